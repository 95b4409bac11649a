"""The Learn2Reg family against independent oracles: surface-distance's own functions on
the same masks, voxelmorph's ``jacobian_determinant``, scipy's ``map_coordinates`` and
``correlate`` (through ``learn2reg_reference``), and hand-computed cases for the NaN
rules, the +3/crop SDlogJ, anisotropic spacing and the border rule."""

from __future__ import annotations

import itertools

import learn2reg_reference as reference
import numpy as np
import pytest
from conftest import smooth_field
from scipy import ndimage

from regbench.measuring import learn2reg
from regbench.measuring.metrics import (
    dice_per_label,
    jacobian_determinant,
    sd_log_jacobian,
)
from regbench.measuring.warp import warp_labels as common_warp_labels

vxm_utils = pytest.importorskip("voxelmorph.py.utils", reason="voxelmorph is the independent Jacobian oracle")

# Eight labels, one per case of (present in fixed, in the original moving, in the warped map).
CASES = list(itertools.product([True, False], repeat=3))


def _presence_maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label k+1 sits in a 4-voxel block of its own row, present in each map as CASES[k]
    says; where it is in both fixed and warped, the warped block overlaps it by half."""
    fixed, moving, warped = (np.zeros((len(CASES), 12), dtype=np.int32) for _ in range(3))
    for row, (in_fixed, in_moving, in_warped) in enumerate(CASES):
        if in_fixed:
            fixed[row, 2:6] = row + 1
        if in_moving:
            moving[row, 8:10] = row + 1
        if in_warped:
            warped[row, 4:8] = row + 1
    return fixed, moving, warped


def test_dice_nan_rule_in_all_eight_cases():
    fixed, moving, warped = _presence_maps()
    labels = list(range(1, len(CASES) + 1))
    expected = [  # by hand: NaN unless in fixed and moving; 2*2/(4+4) with the overlap, 0 without
        (0.5 if in_warped else 0.0) if in_fixed and in_moving else np.nan for in_fixed, in_moving, in_warped in CASES
    ]
    np.testing.assert_array_equal(learn2reg.dice(fixed, moving, warped, labels), expected)
    np.testing.assert_array_equal(learn2reg.dice(fixed, moving, warped, labels), reference.dice(fixed, moving, warped,
                                                                                                labels)[1])
    # The common family's rule differs: a label lost by the warp counts, NaN only when absent from both.
    common = dice_per_label(fixed, warped, labels)
    assert common[CASES.index((True, False, True))] == 0.5 and np.isnan(common[CASES.index((False, True, False))])


def test_dice_rules_change_the_mean():
    """Six labels, three lost by the warp, one of them also absent from the moving map."""
    fixed = np.repeat(np.arange(1, 7), 4).reshape(6, 4)
    moving = np.where(fixed == 6, 0, fixed)
    warped = np.where(fixed <= 3, fixed, 0)
    warped[0, :2] = 0  # label 1 half kept: 2*2/(4+2)
    labels = list(range(1, 7))
    assert np.nanmean(learn2reg.dice(fixed, moving, warped, labels)) == pytest.approx((2 / 3 + 2) / 5)
    assert np.nanmean(dice_per_label(fixed, warped, labels)) == pytest.approx((2 / 3 + 2) / 6)


def test_hd95_nan_and_lost_label_rules_in_all_eight_cases():
    fixed, moving, warped = _presence_maps()
    labels = list(range(1, len(CASES) + 1))
    ours = learn2reg.hd95(fixed, moving, warped, labels, (1.0, 1.0))
    theirs = reference.hd95(fixed, moving, warped, labels, (1.0, 1.0))[1]
    np.testing.assert_array_equal(ours, theirs)
    for value, (in_fixed, in_moving, in_warped) in zip(ours, CASES, strict=True):
        if not (in_fixed and in_moving):
            assert np.isnan(value)
        elif not in_warped:
            assert value == np.inf  # surface-distance's value for an empty prediction


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 0.7, 1.3)], ids=["isotropic", "anisotropic"])
def test_hd95_equals_surface_distance(spacing, rng):
    shape = (18, 20, 16)
    fixed = np.zeros(shape, dtype=np.int16)
    fixed[3:12, 4:15, 2:10] = 1
    fixed[8:16, 2:9, 9:15] = 2
    disp = smooth_field(shape, seed=3, max_displacement=2.5)
    warped = learn2reg.warp_labels(fixed, disp)
    ours = learn2reg.hd95(fixed, fixed, warped, [1, 2], spacing)
    theirs = reference.hd95(fixed, fixed, warped, [1, 2], spacing)[1]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)


def test_hd95_by_hand_on_a_shifted_box_with_anisotropic_spacing():
    """A box moved by one voxel along the first axis, which is 2 mm long: the moved faces are
    2 mm away, the rest 0; more than 5 % of the area is moved, so HD95 is 2 mm (the common
    family's boundary-voxel HD95 of a one-voxel shift is larger: sqrt(2) in unit spacing)."""
    fixed = np.zeros((10, 10, 10), dtype=np.int16)
    fixed[3:7, 3:7, 3:7] = 1
    warped = np.roll(fixed, 1, axis=0)
    assert learn2reg.hd95(fixed, fixed, warped, [1], (2.0, 1.0, 1.0))[0] == pytest.approx(2.0)
    assert learn2reg.hd95(fixed, fixed, warped, [1], (1.0, 1.0, 1.0))[0] == pytest.approx(1.0)


def test_border_rule_zero_outside_and_halves_rounded_up():
    seg = np.tile(np.arange(1, 6, dtype=np.int32), (3, 1))
    disp = np.zeros((2, *seg.shape))
    for column, (shift, expected) in enumerate([(-0.3, 0), (0.5, 3), (1.5, 5), (0.29, 4), (0.3, 0)]):
        disp[1, :, column] = shift
        assert learn2reg.warp_labels(seg, disp)[1, column] == expected, (shift, expected)
    np.testing.assert_array_equal(learn2reg.warp_labels(seg, disp),
                                  reference.warp_seg(seg, np.moveaxis(disp, 0, -1)))
    # The common family keeps the edge label just outside the image.
    assert common_warp_labels(seg, disp)[1, 0] == 1


def test_jacobian_crop_equals_voxelmorph_and_zero_padded_differences():
    disp = smooth_field((14, 16, 12), seed=5, max_displacement=3.0)
    ours = learn2reg.cropped_jacobian(jacobian_determinant(disp))
    voxelmorph = vxm_utils.jacobian_determinant(np.moveaxis(disp, 0, -1))[2:-2, 2:-2, 2:-2]
    np.testing.assert_allclose(ours, voxelmorph, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours, reference.jacobian_determinant(np.moveaxis(disp, 0, -1)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(20, 24), (12, 14, 10)], ids=["2d", "3d"])
def test_sdlogj_equals_the_reference(shape):
    disp = smooth_field(shape, seed=7, max_displacement=4.0)
    ours = learn2reg.sd_log_jacobian(jacobian_determinant(disp))
    assert ours == pytest.approx(reference.sdlogj(np.moveaxis(disp, 0, -1)), rel=0, abs=1e-12)
    assert ours < sd_log_jacobian(jacobian_determinant(disp))  # the +3 damps it


def test_sdlogj_by_hand():
    """u_0 = c·x_0²/2: central differences are exact, det J = 1 + c·x_0; the crop keeps
    rows 2..7 of 10, so the value is the std of log(4 + c·x_0) over those rows."""
    c = 0.2
    x0 = np.arange(10, dtype=float)
    disp = np.zeros((2, 10, 8))
    disp[0] = (c * x0**2 / 2)[:, None]
    expected = np.std(np.log(4 + c * np.arange(2, 8)))
    assert learn2reg.sd_log_jacobian(jacobian_determinant(disp)) == pytest.approx(expected, rel=1e-12)


def test_sdlogj_of_a_field_too_small_to_crop_is_nan():
    assert np.isnan(learn2reg.sd_log_jacobian(np.ones((4, 9))))


@pytest.mark.parametrize(("shape", "spacing"), [((30, 26), (1.0, 1.5)), ((16, 18, 14), (1.0, 1.2, 0.9))],
                         ids=["2d", "3d"])
def test_surface_distances_equal_the_librarys(shape, spacing, rng):
    """regbench's surface distances (a k-d tree where the library transforms the box) give
    the library's elements, distances and robust Hausdorff distances, to float rounding
    (distances ~1e-15 apart may swap places in the sort, with their areas)."""
    _, compute_surface_distances, compute_robust_hausdorff = reference.surface_distance_modules()
    for _ in range(5):
        gt = ndimage.binary_opening(rng.random(shape) > 0.55)
        pred = ndimage.binary_opening(np.roll(gt, rng.integers(-2, 3, len(shape)), axis=range(len(shape))) |
                                      (rng.random(shape) > 0.97))
        corners = np.argwhere(gt | pred)
        box = tuple(slice(lo, hi + 1) for lo, hi in zip(corners.min(0), corners.max(0), strict=True))
        ours = learn2reg.surface_distances(gt[box], pred[box], spacing)
        theirs = compute_surface_distances(gt, pred, np.asarray(spacing))
        assert ours.keys() == theirs.keys()
        for key in ("distances_gt_to_pred", "distances_pred_to_gt"):
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, atol=0, err_msg=key)
        for key in ("surfel_areas_gt", "surfel_areas_pred"):
            np.testing.assert_array_equal(np.sort(ours[key]), np.sort(theirs[key]), err_msg=key)
        for percent in (50.0, 95.0, 100.0):
            assert compute_robust_hausdorff(ours, percent) == pytest.approx(compute_robust_hausdorff(theirs, percent),
                                                                            rel=1e-12)
