"""TRE (both families) and the error against a true field, against hand-computed cases
and the Learn2Reg challenge's ``compute_tre`` restated independently, in 2D and 3D."""

from __future__ import annotations

import learn2reg_reference as reference
import numpy as np
import pytest
from regbench_metrics.learn2reg import L2rTRE
from regbench_metrics.standard import TargetRegistrationError, TrueFieldError

from regbench import Landmarks, PairOutcome, Subject
from regbench.data import random_smooth_field
from regbench.measuring import correspondence, learn2reg


def _ramp(shape: tuple[int, ...], axis: int, power: int) -> np.ndarray:
    """A field whose component ``axis`` is (coordinate along ``axis``) ** ``power``, the others 0."""
    field = np.zeros((len(shape), *shape))
    coordinate = np.arange(shape[axis], dtype=float).reshape([-1 if a == axis else 1 for a in range(len(shape))])
    field[axis] = np.broadcast_to(coordinate ** power, shape)
    return field


@pytest.mark.parametrize("shape", [(12, 14), (8, 9, 10)])
def test_a_constant_field_that_carries_each_point_onto_its_partner_scores_zero(shape):
    ndim = len(shape)
    shift = np.arange(1, ndim + 1) * 0.75
    field = np.broadcast_to(shift.reshape(ndim, *[1] * ndim), (ndim, *shape)).copy()
    fixed = np.array([[2.0] * ndim, [3.5] * ndim, [1.25] * ndim])
    moving = fixed + shift
    assert np.allclose(correspondence.landmark_errors(field, fixed, moving, [1.0] * ndim), 0, atol=1e-12)
    assert np.allclose(learn2reg.tre(field, fixed, moving, [1.0] * ndim), 0, atol=1e-9)


@pytest.mark.parametrize("shape", [(12, 14), (8, 9, 10)])
def test_errors_are_in_mm_by_axis(shape):
    ndim = len(shape)
    spacing = [2.0, 0.5, 3.0][:ndim]
    field = np.zeros((ndim, *shape))
    fixed = np.array([[4.0] * ndim])
    moving = fixed + 1.0  # one voxel off along every axis
    expected = np.sqrt(sum(s * s for s in spacing))  # by hand: sqrt(4 + 0.25 [+ 9])
    assert correspondence.landmark_errors(field, fixed, moving, spacing)[0] == pytest.approx(expected)
    assert learn2reg.tre(field, fixed, moving, spacing)[0] == pytest.approx(expected)


def test_common_tre_interpolates_linearly_and_learn2reg_with_a_cubic_spline():
    # u_0(x) = x0 ** 2: linear interpolation halfway between 20 and 21 gives (400 + 441) / 2 = 420.5,
    # 0.25 more than the true 20.5 ** 2 = 420.25; a cubic spline reproduces a quadratic far from the border.
    shape = (40, 6)
    field = _ramp(shape, axis=0, power=2)
    fixed = np.array([[20.5, 3.0]])
    at_fixed = np.array([[20.5 + 20.5 ** 2, 3.0]])  # where the exact field sends the point
    linear = 0.5 * (20 ** 2 + 21 ** 2)
    assert correspondence.sample_field(field, fixed)[0, 0] == pytest.approx(linear)
    assert correspondence.landmark_errors(field, fixed, at_fixed, [1, 1])[0] == pytest.approx(linear - 20.5 ** 2)
    assert learn2reg.tre(field, fixed, at_fixed, [1, 1])[0] == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("shape", [(24, 28), (12, 14, 10)])
def test_learn2reg_tre_equals_the_challenges_compute_tre(shape):
    rng = np.random.default_rng(0)
    field = random_smooth_field(shape, rng, 3.0, control_spacing=6).astype(np.float64)
    fixed = rng.uniform(0, np.array(shape) - 1, size=(30, len(shape)))
    moving = fixed + rng.normal(0, 2, size=fixed.shape)
    spacing = [1.5, 0.8, 2.0][: len(shape)]
    ours = learn2reg.tre(field, fixed, moving, spacing)
    theirs = reference.compute_tre(fixed, moving, np.moveaxis(field, 0, -1), spacing)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    assert not np.allclose(ours, correspondence.landmark_errors(field, fixed, moving, spacing))  # the families differ


@pytest.mark.parametrize("shape", [(10, 12), (6, 7, 8)])
def test_endpoint_error_against_a_true_field_by_hand(shape):
    ndim = len(shape)
    spacing = [1.0, 2.0, 0.5][:ndim]
    truth = np.zeros((ndim, *shape))
    field = np.ones((ndim, *shape))  # one voxel off along every axis, everywhere
    mask = np.zeros(shape, dtype=bool)
    mask[(slice(2, 5),) * ndim] = True
    errors = correspondence.endpoint_errors(field, truth, spacing, mask)
    assert errors.shape == (3 ** ndim,)
    np.testing.assert_allclose(errors, np.sqrt(sum(s * s for s in spacing)))
    assert correspondence.endpoint_errors(truth, truth, spacing).max() == 0


def _outcome(shape, displacement, landmarks=None, truth=None, seg=None):
    fixed = Subject("f", np.zeros(shape, np.float32), seg)
    moving = Subject("m", np.zeros(shape, np.float32), seg)
    return PairOutcome(fixed=fixed, moving=moving, displacement=displacement, labels={1: "one"},
                       spacing=(1.0,) * len(shape), landmarks=landmarks, true_displacement=truth)


@pytest.mark.parametrize("shape", [(16, 18), (8, 9, 10)])
def test_the_metrics_report_the_true_field_as_zero_and_identity_as_the_true_displacement(shape):
    ndim = len(shape)
    rng = np.random.default_rng(1)
    truth = random_smooth_field(shape, rng, 2.0, control_spacing=4)
    seg = np.zeros(shape, np.int32)
    seg[(slice(2, -2),) * ndim] = 1
    points = np.argwhere(seg > 0)[::7].astype(float)
    landmarks = Landmarks(points, points + truth[(slice(None), *points.astype(int).T)].T)
    exact = _outcome(shape, truth, landmarks, truth, seg)
    assert TargetRegistrationError().compute(exact)["tre"] == pytest.approx(0, abs=1e-6)
    assert L2rTRE().compute(exact)["l2r_tre"] == pytest.approx(0, abs=1e-5)
    assert TrueFieldError().compute(exact) == {"epe": 0.0, "epe_p95": 0.0}
    identity = _outcome(shape, np.zeros_like(truth), landmarks, truth, seg)
    norms = np.linalg.norm(truth, axis=0)
    scores = TrueFieldError().compute(identity)
    assert scores["epe"] == pytest.approx(norms[seg > 0].mean(), rel=1e-6)
    assert scores["epe_p95"] == pytest.approx(np.percentile(norms[seg > 0], 95), rel=1e-6)
    moved = np.linalg.norm(landmarks.moving - landmarks.fixed, axis=1)
    tre = TargetRegistrationError().compute(identity)
    assert (tre["tre"], tre["tre_std"], tre["tre_p95"]) == pytest.approx((moved.mean(), moved.std(),
                                                                          np.percentile(moved, 95)))
