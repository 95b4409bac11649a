"""The embedded default dataset: shape, labels, split, determinism, no network."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from regbench_datasets import mni2d
from regbench_datasets.mni2d import Mni2d


def test_atlas_is_a_labelled_160x192_slice():
    dataset = Mni2d(n_subjects=10)
    atlas = dataset.load(dataset.atlas_id)
    assert atlas.image.shape == (160, 192) and atlas.image.dtype == np.float32
    assert 0.0 <= atlas.image.min() and atlas.image.max() <= 1.0
    assert set(np.unique(atlas.seg)) == {0, *dataset.labels}
    assert dataset.spacing == (1.0, 1.0)


def test_split_is_four_to_one_and_disjoint():
    dataset = Mni2d(n_subjects=400)
    assert (len(dataset.train_ids), len(dataset.test_ids)) == (320, 80)
    assert not set(dataset.train_ids) & set(dataset.test_ids)
    assert dataset.atlas_id not in dataset.train_ids + dataset.test_ids
    assert all(pair.fixed_id == dataset.atlas_id for pair in dataset.test_pairs())


def test_subjects_are_deterministic_for_a_seed_and_vary_with_it():
    first = Mni2d(n_subjects=12, seed=3).load("mni2d-0007")
    again = Mni2d(n_subjects=300, seed=3).load("mni2d-0007")  # independent of the number of subjects
    other_seed = Mni2d(n_subjects=12, seed=4).load("mni2d-0007")
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.seg, again.seg)
    assert not np.array_equal(first.image, other_seed.image)


def test_subjects_differ_from_the_atlas_but_keep_its_anatomy():
    dataset = Mni2d(n_subjects=10)
    atlas = dataset.load(dataset.atlas_id)
    subject = dataset.load(dataset.test_ids[0])
    assert set(np.unique(subject.seg)) == {0, *dataset.labels}
    overlap = np.mean((atlas.seg > 0) == (subject.seg > 0))
    assert 0.8 < overlap < 1.0  # deformed, yet the same brain


def test_unknown_subject_and_option_are_clear_errors():
    with pytest.raises(KeyError, match="mni2d has no subject 'nope'"):
        Mni2d(n_subjects=4).load("nope")
    with pytest.raises(ValueError, match="no option.*n_subject.*valid: .*n_subjects"):
        Mni2d(n_subject=4)


def test_building_touches_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("mni2d tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    mni2d.template_slab.cache_clear()  # read the template files again, under the block
    try:
        dataset = Mni2d(n_subjects=5)
        for subject_id in (dataset.atlas_id, *dataset.train_ids, *dataset.test_ids):
            assert dataset.load(subject_id).image.shape == (160, 192)
    finally:
        mni2d.template_slab.cache_clear()


# --- the true correspondence --------------------------------------------------------------

def test_inverting_a_known_affine_field_gives_its_inverse():
    from regbench.data import invert_field

    shape = (30, 34)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"))
    matrix = np.array([[1.03, 0.02], [-0.04, 0.98]])
    offset = np.array([1.5, -2.0])
    field = np.einsum("ij,j...->i...", matrix, grid) + offset.reshape(2, 1, 1) - grid  # x -> A x + b
    inverse_matrix = np.linalg.inv(matrix)  # by hand: x -> A^-1 (x - b)
    expected = np.einsum("ij,j...->i...", inverse_matrix, grid - offset.reshape(2, 1, 1)) - grid
    inner = (slice(None), slice(4, -4), slice(4, -4))  # away from the border, where the field is extended
    np.testing.assert_allclose(invert_field(field)[inner], expected[inner], atol=1e-5)


def test_a_field_that_stretches_without_folding_is_inverted_and_a_folding_one_refused():
    from scipy import ndimage

    from regbench.data import invert_field

    # u_0(x) = 0.5 (x0 - 40) + 8 sin((x0 - 40) / 8): d(x0 + u_0)/dx0 = 1.5 + cos(.) lies in [0.5, 2.5], so it never
    # folds, but |du/dx| reaches 1.5, where the plain fixed-point iteration v <- -u(x + v) diverges (measured:
    # still 30 voxels off after 500 steps); Newton's method converges.
    shape = (80, 12)
    x0 = np.arange(shape[0], dtype=float)[:, None] * np.ones(shape)
    field = np.stack([0.5 * (x0 - 40) + 8 * np.sin((x0 - 40) / 8), np.zeros(shape)])
    inverse = invert_field(field)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"))
    back = inverse + np.stack([ndimage.map_coordinates(c, grid + inverse, order=3, mode="nearest") for c in field])
    assert np.abs(back).max() < 0.05  # voxels: the field is inverted as interpolated linearly, checked cubically
    with pytest.raises(ValueError, match=r"folds at \d+ voxel"):  # d(x0 + u_0)/dx0 = 1 - 1.5 cos(.) < 0 somewhere
        invert_field(np.stack([-1.5 * 8 * np.sin(x0 / 8), np.zeros(shape)]))


def test_the_true_field_undoes_the_subject_s_deformation_and_carries_the_landmarks():
    from regbench.measuring import warp_image

    dataset = Mni2d(n_subjects=10)
    pair = dataset.test_pairs()[0]
    atlas, subject = dataset.load(pair.fixed_id), dataset.load(pair.moving_id)
    truth = dataset.true_displacement(pair, atlas, subject)
    assert truth.shape == (2, 160, 192) and truth.dtype == np.float32
    # The subject's own field, phi, sends its voxel y to the template at y + phi(y); following the true field
    # from x and then phi comes back to x: warp(warp(grid, phi), truth) = identity (a coordinate grid warped).
    _, _, phi = dataset._deformation(dataset.subject_index(pair.moving_id))
    grid = np.stack(np.meshgrid(np.arange(160.0), np.arange(192.0), indexing="ij")).astype(np.float32)
    there = np.stack([warp_image(component + phi[axis], truth) for axis, component in enumerate(grid)])
    brain = atlas.seg > 0
    assert np.abs(there - grid)[:, brain].max() < 0.05  # voxels; the generator's own fields interpolated linearly
    landmarks = dataset.pair_landmarks(pair, atlas, subject)
    assert 40 <= len(landmarks.fixed) <= 100 and (atlas.seg[tuple(landmarks.fixed.astype(int).T)] > 0).all()
    np.testing.assert_allclose(landmarks.moving - landmarks.fixed,
                               truth[(slice(None), *landmarks.fixed.astype(int).T)].T, atol=1e-6)
    assert dataset.true_displacement(type(pair)(subject.id, atlas.id), subject, atlas) is None  # not a test pair


def test_a_run_scores_the_true_field_against_dice_tre_and_folding(tmp_path):
    import pandas as pd

    from regbench.cli import main

    out = tmp_path / "out"
    code = main(["run", "--dataset", "mni2d", "--dataset-option", "n_subjects=6", "--methods", "identity",
                 "--metrics", "dice,tre,l2r-tre,true-error,jacobian", "--out", str(out), "--no-isolation"])
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert results["status"].eq("ok").all()
    dataset = Mni2d(n_subjects=6)
    for row in results.itertuples():
        pair = next(p for p in dataset.test_pairs() if p.id == row.pair)
        atlas, subject = dataset.load(pair.fixed_id), dataset.load(pair.moving_id)
        norms = np.linalg.norm(dataset.true_displacement(pair, atlas, subject), axis=0)[atlas.seg > 0]
        assert row.epe == pytest.approx(norms.mean(), rel=1e-5)  # identity errs by the true displacement
        landmarks = dataset.pair_landmarks(pair, atlas, subject)
        assert row.tre == pytest.approx(np.linalg.norm(landmarks.moving - landmarks.fixed, axis=1).mean(), rel=1e-5)
    assert main(["report", str(out)]) == 0
    assert {"correspondence.png", "validity.png"} <= {path.name for path in (out / "report_files").iterdir()}
    assert "## Correspondence" in (out / "report.md").read_text()
