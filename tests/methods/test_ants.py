"""The ANTs baselines: their dense fields agree with ANTs' own warping, leave no files
behind, repeat for a seed, and beat the identity floor."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from regbench_datasets.mni2d import Mni2d

from regbench.measuring.metrics import dice_per_label, mean_std
from regbench.measuring.warp import warp_image, warp_labels

pytest.importorskip("ants", reason="needs antspyx: pip install 'regbench[ants]'")
from regbench_methods.ants import (  # noqa: E402
    AntsAffine,
    AntsSyN,
    _ants,
    displacement_from_transforms,
)

ants = _ants()  # the plugin's loader: one ITK thread, set before the first registration


@pytest.fixture(scope="module")
def pairs():
    dataset = Mni2d(n_subjects=10)
    atlas = dataset.load(dataset.atlas_id)
    return dataset, atlas, [dataset.load(subject_id) for subject_id in dataset.test_ids]


@pytest.mark.parametrize("transform", ["Affine", "SyN"])
def test_harness_label_warp_agrees_with_ants_generic_label(pairs, transform, tmp_path):
    dataset, atlas, subjects = pairs
    moving = subjects[0]
    fixed_image, moving_image = ants.from_numpy(atlas.image), ants.from_numpy(moving.image)
    out = ants.registration(fixed_image, moving_image, type_of_transform=transform, outprefix=f"{tmp_path}/")
    field = displacement_from_transforms(out["fwdtransforms"], atlas.image.shape)
    composed = ants.apply_transforms(fixed_image, moving_image, out["fwdtransforms"], compose=f"{tmp_path}/composed")
    by_compose = np.moveaxis(ants.image_read(composed).numpy(), -1, 0)
    assert np.abs(field - by_compose).max() < 1e-4  # ANTs' own composition of the same transforms

    def by_ants(interpolator: str) -> np.ndarray:
        seg = ants.from_numpy(moving.seg.astype(np.float32))
        warped = ants.apply_transforms(fixed_image, seg, out["fwdtransforms"], interpolator=interpolator)
        return warped.numpy().round().astype(np.int16)

    by_harness = warp_labels(moving.seg, field)
    labels = list(dataset.labels)
    nearest = dice_per_label(by_ants("nearestNeighbor"), by_harness, labels)
    generic = dice_per_label(by_ants("genericLabel"), by_harness, labels)
    image_diff = np.abs(warp_image(moving.image, field) - out["warpedmovout"].numpy()).max()
    print(f"{transform}: Dice(harness labels, ANTs labels) per label: nearestNeighbor {np.round(nearest, 4)}, "
          f"genericLabel {np.round(generic, 4)} (mean {generic.mean():.4f}); "
          f"max |warped image difference| {image_diff:.2e}")
    # Same field, same interpolation: identical up to ties at exactly half a voxel.
    assert nearest.min() > 0.999
    # genericLabel smooths each label before choosing one, so thin structures (CSF) differ at their edges.
    assert generic.mean() > 0.97 and generic.min() > 0.93
    assert image_diff < 1e-3


def test_no_files_left_in_the_temp_folder(pairs, tmp_path, monkeypatch):
    _, atlas, subjects = pairs
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    for method in (AntsAffine(), AntsSyN()):
        method.register(atlas.image, subjects[0].image)
    assert os.listdir(private_tmp) == []


@pytest.mark.parametrize("method_class", [AntsAffine, AntsSyN])
@pytest.mark.parametrize("seed", [0, 5])  # 0, the default, is "seed from the clock" to ANTs itself
def test_runs_repeat_exactly_for_a_seed(pairs, method_class, seed):
    _, atlas, subjects = pairs
    first = method_class(seed=seed).register(atlas.image, subjects[1].image).displacement
    again = method_class(seed=seed).register(atlas.image, subjects[1].image).displacement
    np.testing.assert_array_equal(first, again)


def test_the_seed_reaches_ants(pairs):
    _, atlas, subjects = pairs
    one = AntsAffine(seed=1).register(atlas.image, subjects[1].image).displacement
    other = AntsAffine(seed=2).register(atlas.image, subjects[1].image).displacement
    assert not np.array_equal(one, other)  # the affine stage samples voxels at random


def test_both_beat_the_identity_floor(pairs):
    dataset, atlas, subjects = pairs
    labels = list(dataset.labels)

    def mean_dice(field_of):
        return np.mean([mean_std(dice_per_label(atlas.seg, warp_labels(s.seg, field_of(s)), labels))[0]
                        for s in subjects])

    identity = mean_dice(lambda s: np.zeros((2, *s.image.shape), np.float32))
    affine = mean_dice(lambda s: AntsAffine().register(atlas.image, s.image).displacement)
    syn = mean_dice(lambda s: AntsSyN().register(atlas.image, s.image).displacement)
    assert identity < affine < syn
