"""Speed of the shared parts and of every installed method, as ratios to the reference.

    python -m pytest benchmarks/test_speed.py --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import numpy as np
import pytest
from regbench_datasets.mni2d import Mni2d
from regbench_datasets.synthetic import Synthetic

from regbench.data.deformations import random_smooth_field
from regbench.plugin import training as profiles
from regbench.measuring.metrics import dice_per_label, jacobian_determinant
from regbench.measuring.reference import reference_operation
from regbench.measuring.warp import warp_image, warp_labels
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.method import TrainingContext

SHAPES = {"2d": (160, 192), "3d": (96, 112, 96)}


@pytest.fixture(scope="module", params=list(SHAPES))
def volume(request):
    shape = SHAPES[request.param]
    dataset = Synthetic(shape=shape, n_subjects=5, n_labels=8)
    subject = dataset.load(dataset.test_ids[0])
    field = random_smooth_field(shape, np.random.default_rng(0), 4.0)
    return subject, dataset.load(dataset.atlas_id), field


def test_reference_workload(benchmark, as_ratio):
    benchmark(reference_operation)
    assert as_ratio() == pytest.approx(1.0, rel=0.5)  # the reference against itself, timed twice


def test_warp_image(benchmark, as_ratio, volume):
    subject, _, field = volume
    benchmark(warp_image, subject.image, field)
    as_ratio()


def test_warp_labels(benchmark, as_ratio, volume):
    subject, _, field = volume
    benchmark(warp_labels, subject.seg, field)
    as_ratio()


def test_dice(benchmark, as_ratio, volume):
    subject, atlas, _ = volume
    dice = benchmark(dice_per_label, atlas.seg, subject.seg, list(range(1, 9)))
    assert np.all(dice > 0)
    as_ratio()


def test_jacobian(benchmark, as_ratio, volume):
    _, _, field = volume
    jacobian = benchmark(jacobian_determinant, field)
    assert jacobian.shape == field.shape[1:]
    as_ratio()


def _installed_methods():
    catalog = collect(plugin_manager())
    return [entry for entry in catalog.methods.entries() if entry.installed]


@pytest.fixture(scope="module")
def mni2d_pair(tmp_path_factory):
    one_step = profiles.Profile("one-step", batch_size=2, lr=1e-3, steps=1)
    dataset = Mni2d(n_subjects=20)
    context = TrainingContext(dataset=dataset, train_ids=dataset.train_ids, profile=one_step,
                              cache_dir=tmp_path_factory.mktemp("weights"))
    return dataset.load(dataset.atlas_id), dataset.load(dataset.test_ids[0]), context


@pytest.mark.parametrize("entry", _installed_methods(), ids=lambda entry: entry.name)
def test_inference(benchmark, as_ratio, mni2d_pair, entry):
    """One 160x192 pair, as `regbench run` times it (networks trained one step: speed only)."""
    atlas, moving, context = mni2d_pair
    method = entry.cls(seed=0)
    method.prepare(context)
    result = benchmark.pedantic(method.register, args=(atlas.image, moving.image), rounds=5, warmup_rounds=1)
    assert result.displacement.shape == (2, *atlas.image.shape)
    as_ratio()
