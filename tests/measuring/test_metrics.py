"""Every metric against an independent oracle: voxelmorph's ``dice`` and
``jacobian_determinant``, brute force, and hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from regbench.measuring.metrics import (
    dice_per_label,
    folding_percent,
    hd95_per_label,
    jacobian_determinant,
    mean_squared_error,
    mean_std,
    normalized_cross_correlation,
    sd_log_jacobian,
)

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


# --- HD95: brute force on small shapes -------------------------------------------------

def brute_force_hd95(a: np.ndarray, b: np.ndarray, spacing) -> float:
    """Surface voxels by definition (a face-neighbour outside the mask, or the image edge
    counted as outside), all pairwise distances, then the larger directed 95th percentile."""
    def surface_points(mask):
        padded = np.pad(mask, 1)
        points = []
        for index in np.argwhere(mask):
            p = tuple(index + 1)
            neighbours = [padded[p[:k] + (p[k] + d,) + p[k + 1:]] for k in range(mask.ndim) for d in (-1, 1)]
            if not all(neighbours):
                points.append(index * np.asarray(spacing))
        return np.array(points)

    pa, pb = surface_points(a), surface_points(b)
    distances = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return max(np.percentile(distances.min(1), 95), np.percentile(distances.min(0), 95))


@pytest.mark.parametrize("shape, spacing", [((24, 20), (1.0, 1.0)), ((20, 22), (0.7, 1.6)), ((10, 12, 9), (1.0, 2.0, 0.5))])
def test_hd95_matches_brute_force(shape, spacing, rng):
    from scipy.ndimage import gaussian_filter

    def blobs(seed):
        field = gaussian_filter(np.random.default_rng(seed).random(shape), 2.0)
        return np.digitize(field, np.quantile(field, [0.4, 0.7])).astype(np.int16)  # labels 0, 1, 2

    fixed, warped = blobs(1), blobs(2)
    ours = hd95_per_label(fixed, warped, [1, 2], spacing)
    expected = [brute_force_hd95(fixed == label, warped == label, spacing) for label in (1, 2)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_hd95_by_hand():
    fixed = np.zeros((5, 12), dtype=np.int8)
    warped = np.zeros_like(fixed)
    fixed[2, 2] = 1
    warped[2, 7] = 1  # five voxels apart along an axis of spacing 0.5 mm
    assert hd95_per_label(fixed, warped, [1], (1.0, 0.5))[0] == pytest.approx(2.5)
    assert hd95_per_label(fixed, fixed, [1], (1.0, 0.5))[0] == 0.0
    assert np.isnan(hd95_per_label(fixed, np.zeros_like(fixed), [1], (1.0, 1.0))[0])  # missing from one map


# --- Jacobian, folding, SDlogJ --------------------------------------------------------------

@pytest.mark.parametrize("shape", [(30, 34), (12, 14, 16)], ids=["2d", "3d"])
def test_jacobian_matches_voxelmorph(shape):
    from conftest import smooth_field

    field = smooth_field(shape, seed=5, max_displacement=6.0)
    theirs = vxm_utils.jacobian_determinant(np.moveaxis(field, 0, -1))  # voxelmorph: channels last
    np.testing.assert_allclose(jacobian_determinant(field), theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(16, 20), (8, 10, 12)], ids=["2d", "3d"])
def test_pure_scaling_has_a_known_jacobian(shape):
    scale = 1.3
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"))
    centre = (np.array(shape) - 1) / 2
    field = (scale - 1) * (grid - centre.reshape(-1, *[1] * len(shape)))  # x + u = centre + s (x - centre)
    jacobian = jacobian_determinant(field)
    np.testing.assert_allclose(jacobian, scale ** len(shape))
    assert folding_percent(jacobian) == 0.0
    assert sd_log_jacobian(jacobian) == pytest.approx(0.0, abs=1e-12)


def test_a_fold_is_counted():
    field = np.zeros((2, 10, 10))
    rows = np.arange(10, dtype=float)[:, None]
    field[0, :, 5:] = -2 * rows  # right half: x0 + u0 = -x0, the map flips there -> det J = -1
    jacobian = jacobian_determinant(field)
    # By hand: d(x0 + u0)/dx0 is 1 in columns 0-4 and -1 in columns 5-9; the shear
    # du0/dx1 at the seam does not change det J = d00 * d11 - d01 * d10, as d10 = 0.
    np.testing.assert_array_equal(jacobian[:, :5], 1.0)
    np.testing.assert_array_equal(jacobian[:, 5:], -1.0)
    assert folding_percent(jacobian) == 50.0
    # log(clip(-1)) = log(1e-9) on half the voxels, log(1) = 0 on the others: std = |log 1e-9| / 2
    assert sd_log_jacobian(jacobian) == pytest.approx(-np.log(1e-9) / 2)


# --- image similarity ---------------------------------------------------------------------

def test_image_similarity(rng):
    fixed = rng.random((12, 14))
    assert mean_squared_error(fixed, fixed + 0.5) == pytest.approx(0.25)
    assert normalized_cross_correlation(fixed, 3 * fixed + 1) == pytest.approx(1.0)
    other = rng.random((12, 14))
    assert normalized_cross_correlation(fixed, other) == pytest.approx(np.corrcoef(fixed.ravel(), other.ravel())[0, 1])
