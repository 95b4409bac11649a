"""Warping + Dice per 2D pair (160x192, mni2d), beside a reference measured in the same run.

The reference does the same job with the field's standard tools: scipy's
``map_coordinates`` (nearest) for the labels and voxelmorph's ``dice``. Compare the
medians of the two rows: their ratio is what to track, not the absolute seconds.

    python -m pytest benchmarks --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import numpy as np
import pytest
from regbench_datasets.mni2d import Mni2d
from scipy.ndimage import map_coordinates

from regbench.data.deformations import random_smooth_field
from regbench.measuring.metrics import dice_per_label
from regbench.measuring.warp import warp_labels

vxm_utils = pytest.importorskip("voxelmorph.py.utils")


@pytest.fixture(scope="module")
def pair():
    dataset = Mni2d(n_subjects=5)
    atlas = dataset.load(dataset.atlas_id)
    moving = dataset.load(dataset.test_ids[0])
    field = random_smooth_field(atlas.image.shape, np.random.default_rng(0), 4.0)
    return atlas.seg, moving.seg, field, list(dataset.labels)


def test_regbench_warp_and_dice_2d(benchmark, pair):
    fixed_seg, moving_seg, field, labels = pair
    dice = benchmark(lambda: dice_per_label(fixed_seg, warp_labels(moving_seg, field), labels))
    assert np.all(dice > 0)


def test_reference_map_coordinates_and_vxm_dice_2d(benchmark, pair):
    fixed_seg, moving_seg, field, labels = pair
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in fixed_seg.shape], indexing="ij"))

    def reference():
        warped = map_coordinates(moving_seg, grid + field, order=0, mode="grid-constant")
        return vxm_utils.dice(fixed_seg, warped, labels=labels)

    assert np.all(benchmark(reference) > 0)
