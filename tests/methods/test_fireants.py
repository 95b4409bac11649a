"""fireants: the harness's label warp through its field agrees with FireANTs' own label
warp, in 2D and 3D; an image registered to itself stays put; results repeat on the CPU
(FireANTs has no random step); no files are left behind; the conformance suite passes."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import label_agreement, stays_put

from regbench.measuring.warp import warp_image, warp_labels
from regbench.testing import MethodConformance

pytest.importorskip("fireants", reason="needs FireANTs: pip install 'regbench[fireants]'")
from regbench_methods.fireants import FireANTs, field_from_grid  # noqa: E402

FEW = {"affine_iterations": (40, 20, 10, 5), "iterations": (40, 20, 10)}  # a test's budget, not FireANTs'


def test_harness_label_warp_agrees_with_fireants_label_warp(registration_pair):
    labels, fixed, moving = registration_pair
    method = FireANTs(**FEW)
    deformable, fixed_batch, moving_batch = method.registration(fixed.image, moving.image)
    field = field_from_grid(deformable.get_warped_coordinates(fixed_batch, moving_batch).detach()[0].cpu().numpy())
    # FireANTs warps a label map one-hot, each label interpolated linearly; the label is
    # the most likely one (as ANTs' genericLabel), so thin structures differ at their
    # edges from nearest neighbour.
    one_hot = deformable.evaluate(fixed_batch, method.images(moving.seg, segmentation=True))
    dice = label_agreement("fireants", labels, one_hot.detach()[0].argmax(0).cpu().numpy(),
                           warp_labels(moving.seg, field))
    assert np.nanmean(dice) > 0.95 and dice.min() > 0.9
    # The field itself is FireANTs' exactly: its own warped image, trilinear as the harness's.
    by_fireants = deformable.evaluate(fixed_batch, moving_batch).detach()[0, 0].cpu().numpy()
    assert np.abs(by_fireants - warp_image(moving.image, field)).max() < 1e-4


def test_an_image_onto_itself_stays_put_and_repeats(registration_pair):
    labels, fixed, _ = registration_pair
    method = FireANTs(**FEW)
    field = method.register(fixed.image, fixed.image).displacement
    assert stays_put("fireants", field, fixed, labels) < 0.25
    np.testing.assert_array_equal(field, method.register(fixed.image, fixed.image).displacement)


def test_no_files_left_behind(registration_pair, private_tmp):
    _, fixed, moving = registration_pair
    FireANTs(**FEW).register(fixed.image, moving.image)
    assert os.listdir(private_tmp) == [] and os.listdir(private_tmp.parent) == ["tmp"]


def test_an_image_too_small_for_fireants_is_a_clear_error():
    with pytest.raises(ValueError, match=r"needs at least 32 voxels along every axis .* shape \(40, 40, 20\)"):
        FireANTs(**FEW).register(np.zeros((40, 40, 20), np.float32), np.zeros((40, 40, 20), np.float32))


class TestFireANTsConformance(MethodConformance):
    method = FireANTs
    plugin = "regbench_methods.fireants"
    params = {"affine_iterations": (10, 5, 5, 5), "iterations": (10, 5, 5)}
    shape_3d = (32, 32, 32)  # FireANTs needs 32 voxels a side
    # With this budget its 2D field on 32 pixels recovers the known shift only noisily (0.80 from the right
    # answer, near the kit's 0.85); on 48 it is 0.62.
    shape_2d = (48, 48)
