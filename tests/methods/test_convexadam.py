"""convexadam: the harness's label warp through its field agrees with ConvexAdam's own
warp (``apply_convex``), and its own image warp equals the harness's; an image registered
to itself stays put; results repeat (no random step); no files are left behind; a 2D
image, a too small volume or a setting the package cannot use is a clear error; the
conformance suite passes (in 3D, the only dimension it declares)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import label_agreement, stays_put

from regbench.measuring.metrics import dice_per_label
from regbench.measuring.warp import warp_image, warp_labels
from regbench.testing import MethodConformance

pytest.importorskip("convexAdam", reason="needs ConvexAdam: pip install 'regbench[convexadam]'")
from convexAdam.apply_convex import apply_convex  # noqa: E402
from regbench_methods.convexadam import ConvexAdam  # noqa: E402

THREE_D = pytest.mark.parametrize("registration_pair", ["3d"], indirect=True)


@THREE_D
def test_harness_warp_agrees_with_convexadams_own_warp(registration_pair):
    labels, fixed, moving = registration_pair
    field = ConvexAdam().register(fixed.image, moving.image).displacement
    assert np.abs(field).max() > 0.5  # it moved: the comparison below is not of two identities
    # apply_convex interpolates linearly (map_coordinates, order 1); a label map goes
    # through it one-hot, each label's weight warped, the most likely label kept.
    one_hot = np.stack([apply_convex(np.moveaxis(field, 0, -1), (moving.seg == label).astype(np.float32))
                        for label in [0, *labels]])
    by_tool = np.asarray([0, *labels])[one_hot.argmax(0)]
    dice = label_agreement("convexadam", labels, by_tool, warp_labels(moving.seg, field))
    assert np.nanmean(dice) > 0.95 and dice.min() > 0.9
    # Its image warp is the harness's: same field, same linear interpolation (inside the
    # image; outside, map_coordinates fills zeros where the harness keeps the border).
    inside = np.all([(0 <= c + u) & (c + u <= n - 1) for c, u, n in
                     zip(np.indices(fixed.image.shape), field, fixed.image.shape, strict=True)], axis=0)
    by_convexadam = apply_convex(np.moveaxis(field, 0, -1), moving.image)
    assert np.abs(by_convexadam - warp_image(moving.image, field))[inside].max() < 1e-4


@THREE_D
def test_it_improves_on_no_motion(registration_pair):
    labels, fixed, moving = registration_pair
    field = ConvexAdam().register(fixed.image, moving.image).displacement
    before = np.nanmean(dice_per_label(fixed.seg, moving.seg, labels))
    after = np.nanmean(dice_per_label(fixed.seg, warp_labels(moving.seg, field), labels))
    print(f"convexadam: mean Dice {before:.3f} before, {after:.3f} after")
    assert after > before + 0.01


@THREE_D
def test_an_image_onto_itself_stays_put_and_repeats(registration_pair):
    labels, fixed, _ = registration_pair
    method = ConvexAdam()
    field = method.register(fixed.image, fixed.image).displacement
    assert stays_put("convexadam", field, fixed, labels) < 0.1
    np.testing.assert_array_equal(field, method.register(fixed.image, fixed.image).displacement)


@THREE_D
def test_no_files_left_behind(registration_pair, private_tmp):
    _, fixed, moving = registration_pair
    ConvexAdam().register(fixed.image, moving.image)
    assert os.listdir(private_tmp) == [] and os.listdir(private_tmp.parent) == ["tmp"]


def test_a_2d_image_or_a_too_small_volume_is_a_clear_error():
    with pytest.raises(ValueError, match=r"registers 3D volumes only .* shape \(32, 32\)"):
        ConvexAdam().register(np.zeros((32, 32), np.float32), np.zeros((32, 32), np.float32))
    with pytest.raises(ValueError, match=r"needs at least 18 voxels along every axis .* shape \(16, 16, 8\)"):
        ConvexAdam().register(np.zeros((16, 16, 8), np.float32), np.zeros((16, 16, 8), np.float32))
    with pytest.raises(ValueError, match="smooth is a box-filter width and must be odd"):
        ConvexAdam(smooth=4)
    with pytest.raises(ValueError, match="niter must be at least 1"):
        ConvexAdam(niter=0)
    with pytest.raises(ValueError, match="lambda_weight must be greater than 0"):
        ConvexAdam(lambda_weight=0.0)


class TestConvexAdamConformance(MethodConformance):
    method = ConvexAdam
    plugin = "regbench_methods.convexadam"
    params = {"niter": 10}  # a test's budget, not ConvexAdam's
    shape_3d = (24, 24, 24)  # three cells of its 6-voxel grid a side
