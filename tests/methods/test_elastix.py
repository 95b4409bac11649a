"""elastix-affine and elastix-bspline: the harness's label warp through each field agrees
with transformix's own nearest-neighbour warp, in 2D and 3D; a seed repeats a field for
one thread count, which ``--threads`` sets; an image registered to itself stays put; no
files are left behind; the conformance suite passes."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from conftest import label_agreement, stays_put

from regbench.measuring import devices
from regbench.measuring.warp import warp_labels
from regbench.testing import MethodConformance

if importlib.util.find_spec("itk") is None or importlib.util.find_spec("itk.ElastixPython") is None:
    pytest.skip("needs itk-elastix: pip install 'regbench[elastix]'", allow_module_level=True)
from regbench_methods.elastix import (  # noqa: E402
    ElastixAffine,
    ElastixBSpline,
    _itk,
    field_from_transformix,
)


@pytest.mark.parametrize("method_class", [ElastixAffine, ElastixBSpline])
def test_harness_label_warp_agrees_with_transformix(registration_pair, method_class, tmp_path):
    itk = _itk()
    labels, fixed, moving = registration_pair
    _, transform = method_class().registration(fixed.image, moving.image, str(tmp_path))
    moving_image = itk.GetImageFromArray(np.ascontiguousarray(moving.image, dtype=np.float32))
    field = field_from_transformix(itk.GetArrayFromImage(
        itk.transformix_deformation_field(moving_image, transform, output_directory=str(tmp_path))))
    transform.SetParameter("FinalBSplineInterpolationOrder", "0")  # transformix's nearest neighbour
    by_transformix = itk.GetArrayFromImage(itk.transformix_filter(
        itk.GetImageFromArray(moving.seg.astype(np.float32)), transform, output_directory=str(tmp_path)))
    dice = label_agreement(method_class.name, labels, by_transformix, warp_labels(moving.seg, field))
    assert dice.min() > 0.999


def test_a_seed_repeats_for_a_thread_count_which_threads_sets(registration_pair):
    _, fixed, moving = registration_pair
    threads = devices.cpu_threads()
    fields = {}
    try:
        for count in (1, 1, 2):
            devices.use_threads(count)
            field = ElastixBSpline(seed=3, iterations=32).register(fixed.image, moving.image).displacement
            assert _itk().MultiThreaderBase.GetGlobalDefaultNumberOfThreads() == count  # --threads reaches ITK
            if count in fields:
                np.testing.assert_array_equal(field, fields[count])
            fields[count] = field
    finally:
        devices.use_threads(threads)
    other = ElastixBSpline(seed=4, iterations=32).register(fixed.image, moving.image).displacement
    assert not np.array_equal(fields[1], other)  # the seed is elastix's sampling seed


def test_an_image_onto_itself_stays_put(registration_pair):
    """Where the image has structure: in its flat background, mutual information cannot
    see a B-spline drift, and elastix's default penalty lets it reach a few voxels."""
    labels, fixed, _ = registration_pair
    field = ElastixBSpline().register(fixed.image, fixed.image).displacement
    assert stays_put("elastix-bspline", field, fixed, labels) < 0.25


def test_no_files_left_behind(registration_pair, private_tmp):
    _, fixed, moving = registration_pair
    ElastixAffine(iterations=16).register(fixed.image, moving.image)
    assert os.listdir(private_tmp) == [] and os.listdir(private_tmp.parent) == ["tmp"]


class TestElastixBSplineConformance(MethodConformance):
    method = ElastixBSpline
    plugin = "regbench_methods.elastix"
    params = {"iterations": 16}


class TestElastixAffineConformance(MethodConformance):
    method = ElastixAffine
    plugin = "regbench_methods.elastix"
    params = {"iterations": 16}
