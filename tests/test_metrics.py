"""Dice against voxelmorph's own implementation and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from regbench.metrics import dice_per_label, mean_std

vxm_utils = pytest.importorskip("voxelmorph.py.utils", reason="voxelmorph is the independent Dice oracle")


@pytest.mark.parametrize("shape", [(40, 48), (16, 20, 24)], ids=["2d", "3d"])
def test_dice_matches_voxelmorph(shape, rng):
    fixed = rng.integers(0, 8, size=shape)
    moving = np.where(rng.random(shape) < 0.7, fixed, rng.integers(0, 8, size=shape))
    labels = [1, 2, 3, 4, 5, 6, 7]
    ours = dice_per_label(fixed, moving, labels)
    theirs = vxm_utils.dice(fixed, moving, labels=labels)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_dice_by_hand():
    fixed = np.zeros((10, 10), dtype=np.int16)
    moving = np.zeros_like(fixed)
    fixed[0:4, 0:4] = 1  # 16 voxels
    moving[2:6, 0:4] = 1  # 16 voxels, 8 shared -> 2*8/32
    fixed[8:10, 8:10] = 3  # label 3 only in fixed -> 0
    np.testing.assert_allclose(dice_per_label(fixed, moving, [1, 3]), [0.5, 0.0])


def test_background_is_never_scored():
    with pytest.raises(ValueError, match="0 is background"):
        dice_per_label(np.zeros((3, 3), int), np.zeros((3, 3), int), [0, 1])


def test_label_absent_from_both_is_nan_and_skipped_by_summary():
    fixed = np.array([[1, 1], [0, 0]])
    dice = dice_per_label(fixed, fixed, [1, 2])
    assert dice[0] == 1.0 and np.isnan(dice[1])
    assert mean_std(dice) == (1.0, 0.0)


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="differ in shape"):
        dice_per_label(np.zeros((3, 3), int), np.zeros((3, 4), int), [1])


def test_mean_std_is_population_std():
    mean, std = mean_std(np.array([0.5, 0.7, np.nan]))
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.1)
