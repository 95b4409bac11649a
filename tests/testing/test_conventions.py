"""The conformance kit catches the convention mistakes that give a plausible table: a
field that pushes forward, components in (x, y, z) order, a plugin declared under the
wrong entry-point group, a test class that names no method."""

from __future__ import annotations

import numpy as np
import pytest
from installed import write_metadata
from mistaken_plugin import AxesAsXY, PushForward
from regbench_methods.ants import AntsAffine
from scipy import ndimage

from regbench.testing import MethodConformance
from regbench.testing.motions import known_motions, verdict

SHAPES = [(32, 32), (24, 24, 24)]


@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "3d"])
def test_each_known_answer_warps_the_moving_image_onto_the_fixed_one(shape):
    for case in known_motions(shape):
        # scipy's interpolation as the oracle: warped(x) = moving(x + u(x))
        warped = ndimage.map_coordinates(case.moving, np.indices(shape) + case.answer, order=3, mode="nearest")
        residual, before = np.abs(warped - case.fixed), np.abs(case.moving - case.fixed)
        assert residual.max() < 0.05 and residual.mean() < 0.05 * before.mean(), case.name
        assert before.max() > 0.5, case.name  # the motion is there to recover


@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "3d"])
@pytest.mark.parametrize(("given", "match"), [(lambda u: 0.6 * u, "right"), (lambda u: -u, "negated"),
                                              (lambda u: u[::-1], "reversed"),
                                              (lambda u: -u[::-1], "negated and reversed")])
def test_the_verdict_names_what_a_field_follows(shape, given, match):
    for case in known_motions(shape):
        found = verdict(given(case.answer), case.answer, case.fixed)
        assert (found.match, found.follows) == (match, True)
        assert found.right == (match == "right") and found.mistake == (None if match == "right" else match)


def test_a_field_that_recovers_too_little_or_points_nowhere_follows_nothing():
    case = known_motions((32, 32))[0]
    assert not verdict(0.1 * case.answer, case.answer, case.fixed).follows  # 10% of the motion
    noise = np.random.default_rng(0).standard_normal(case.answer.shape).astype(np.float32)
    assert not verdict(noise, case.answer, case.fixed).follows
    assert not verdict(np.zeros_like(case.answer), case.answer, case.fixed).follows


def _uniform(shape, vector):
    return np.broadcast_to(np.reshape(vector, (-1,) + (1,) * len(shape)), (len(shape), *shape)).astype(np.float32)


def test_a_mistake_is_named_only_on_strong_evidence():
    case = known_motions((32, 32))[0]  # shift (2.4, 1.0)
    halfway = verdict(0.5 * case.answer + 0.5 * case.answer[::-1], case.answer, case.fixed)  # as near one as the other
    assert halfway.mistake is None and not halfway.right  # fails, accusing nothing
    weak = verdict(_uniform((32, 32), (0.9, 1.0)), case.answer, case.fixed)  # axis 0 recovered 37%, the right way
    assert weak.right and weak.mistake is None


@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "3d"])
def test_a_negated_component_or_two_swapped_components_fail(shape):
    for case in known_motions(shape):
        ndim = len(shape)
        for axis in range(ndim):
            flipped = case.answer.copy()
            flipped[axis] *= -1
            assert not verdict(flipped, case.answer, case.fixed).right, (case.name, "axis", axis, "negated")
        for first in range(ndim):
            for second in range(first + 1, ndim):
                swapped = case.answer.copy()
                swapped[[first, second]] = swapped[[second, first]]  # e.g. np.meshgrid without indexing="ij"
                assert not verdict(swapped, case.answer, case.fixed).right, (case.name, first, second, "swapped")


def _kit(method_class, **attributes):
    return type(f"Test{method_class.__name__}", (MethodConformance,),
                {"method": method_class, "shape_3d": (24, 24, 24), **attributes})()


@pytest.mark.parametrize(("method_class", "message"), [
    (PushForward, r"your field points the wrong way \(a push-forward"),
    (AxesAsXY, r"your components are in the wrong order \(\(x, y, z\) as ITK"),
])
def test_the_kit_names_each_mistake_in_2d_and_3d(method_class, message, tmp_path):
    kit = _kit(method_class)
    for check in (kit.test_follows_the_field_convention_in_2d, kit.test_follows_the_field_convention_in_3d):
        with pytest.raises(AssertionError, match=message) as failed:
            check(tmp_path)
        assert "warped(x) = moving(x + u(x))" in str(failed.value)  # the convention, stated once


def test_the_correct_method_they_were_made_from_passes(tmp_path):
    kit = _kit(AntsAffine)
    kit.test_follows_the_field_convention_in_2d(tmp_path)
    kit.test_follows_the_field_convention_in_3d(tmp_path)


def test_a_method_that_never_moves_passes_only_when_it_says_so(tmp_path):
    from regbench_methods.identity import Identity

    with pytest.raises(AssertionError, match="does not recover the motion"):
        _kit(Identity).test_follows_the_field_convention_in_2d(tmp_path)
    _kit(Identity, recovers_motion=False).test_follows_the_field_convention_in_2d(tmp_path)
    with pytest.raises(AssertionError, match="recovers_motion = False says the method never moves"):
        _kit(AntsAffine, recovers_motion=False).test_follows_the_field_convention_in_2d(tmp_path)


def test_an_entry_point_in_another_group_is_named_with_the_group_expected(tmp_path, monkeypatch):
    write_metadata(tmp_path, "mistaken-plugin", "0.1.0", {"regbench.methods": {"push-forward": "mistaken_plugin"}})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AssertionError, match=r"the entry point push-forward = 'mistaken_plugin' of distribution "
                                             r"'mistaken-plugin' is in the group 'regbench.methods', but regbench "
                                             r"reads the group 'regbench'"):
        _kit(PushForward).test_is_found_through_its_entry_point()


def test_a_plugin_not_installed_is_told_how_to_declare_it():
    with pytest.raises(AssertionError, match=r"(?s)no installed distribution declares an entry point for "
                                             r"'mistaken_plugin' .* \[project.entry-points.regbench\]"):
        _kit(PushForward).test_is_found_through_its_entry_point()


def test_a_plugin_installed_under_the_right_group_is_found(tmp_path, monkeypatch):
    write_metadata(tmp_path, "mistaken-plugin", "0.1.0", {"regbench": {"mistaken": "mistaken_plugin"}})
    monkeypatch.syspath_prepend(str(tmp_path))
    _kit(PushForward).test_is_found_through_its_entry_point()
    _kit(AxesAsXY).test_is_found_through_its_entry_point()


def test_a_test_class_without_a_method_is_an_error_at_collection():
    with pytest.raises(TypeError, match=r"TestForgotten: set the class attribute method = YourMethod"):
        type("TestForgotten", (MethodConformance,), {"params": {"iterations": 5}})
    shared = type("TestShared", (MethodConformance,), {"__test__": False, "params": {"iterations": 5}})  # a base
    assert type("TestMine", (shared,), {"method": AntsAffine}).params == {"iterations": 5}
