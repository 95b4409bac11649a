"""``elastix-affine`` and ``elastix-bspline``: elastix through ``itk-elastix``, with
elastix's own default parameter maps (``GetDefaultParameterMap("affine")``, then
``("bspline")`` for the deformable one: Mattes mutual information, adaptive stochastic
gradient descent, four resolutions, a B-spline grid of 10 mm with a bending-energy
penalty).

transformix turns the result into a dense deformation field on the fixed grid, a point
``p`` of the fixed image going to ``p + d(p)`` in the moving one: regbench's pull-back
convention, in ITK's axis order (x first), which is numpy's reversed. Images are handed
over with unit spacing and zero origin, so physical units are voxels.

elastix samples the images at random: its ``RandomSeed`` is derived from regbench's
seed, so a seed repeats a result for one thread count (``--threads``, which sets ITK's;
another count sums in another order, and the B-spline result moves by up to a voxel,
as a trained network's weights do). Its files (transform parameters, result image,
deformation field) are written into a private temporary folder removed afterwards.
"""

from __future__ import annotations

import functools
import tempfile
from types import ModuleType
from typing import ClassVar

import numpy as np

from regbench import Method, Range, RegistrationResult, Registry, TrainingContext, hookimpl
from regbench.measuring import devices


@functools.cache
def _itk() -> ModuleType:
    import itk  # noqa: PLC0415 - ITK's lazy loader takes seconds: once, in prepare

    itk.ParameterObject  # noqa: B018 - loads the elastix module now, not within the first pair's timing
    return itk


def elastix_seed(seed: int) -> int:
    """A positive ``RandomSeed`` for elastix, derived from regbench's seed."""
    return int(np.random.SeedSequence(seed).generate_state(1)[0]) % (2**31 - 1) + 1


def field_from_transformix(field: np.ndarray) -> np.ndarray:
    """transformix's deformation field ``(*spatial, ndim)``, components in ITK order (x, y[, z]),
    as regbench's ``(ndim, *spatial)`` in numpy's axis order."""
    return np.ascontiguousarray(np.moveaxis(field[..., ::-1], -1, 0), dtype=np.float32)


class ElastixRegistration(Method):
    """elastix with its default parameter maps named in ``maps``, as a dense field."""

    maps: ClassVar[tuple[str, ...]]
    default_params: ClassVar = {"iterations": 256}  # per resolution and map: elastix's default maps' own
    param_rules: ClassVar = {"iterations": Range(at_least=1)}

    def prepare(self, context: TrainingContext) -> None:
        _itk()

    def parameter_object(self):  # noqa: ANN201 - an itk.ParameterObject
        itk = _itk()
        parameters = itk.ParameterObject.New()
        for name in self.maps:
            parameters.AddParameterMap(parameters.GetDefaultParameterMap(name))
        parameters.SetParameter("RandomSeed", str(elastix_seed(self.seed)))
        parameters.SetParameter("MaximumNumberOfIterations", str(self.params["iterations"]))
        return parameters

    def registration(self, fixed: np.ndarray, moving: np.ndarray, workdir: str):  # noqa: ANN201
        """elastix's result, its files in ``workdir``: the warped moving image and the
        transform parameters (an itk.ParameterObject that transformix reads)."""
        itk = _itk()
        # ITK's thread count, not elastix's number_of_threads: with more than one thread,
        # that one crashes the B-spline registration (itk-elastix 0.25.4, a segfault).
        itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(devices.cpu_threads())
        return itk.elastix_registration_method(
            itk.GetImageFromArray(np.ascontiguousarray(fixed, dtype=np.float32)),
            itk.GetImageFromArray(np.ascontiguousarray(moving, dtype=np.float32)),
            parameter_object=self.parameter_object(), log_to_console=False, output_directory=workdir)

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        itk = _itk()
        with tempfile.TemporaryDirectory(prefix="regbench-elastix-") as workdir:
            warped, transform = self.registration(fixed, moving, workdir)
            moving_image = itk.GetImageFromArray(np.ascontiguousarray(moving, dtype=np.float32))
            field = itk.transformix_deformation_field(moving_image, transform, output_directory=workdir)
            displacement = field_from_transformix(itk.GetArrayFromImage(field))
        return RegistrationResult(displacement, extras={"warped": itk.GetArrayFromImage(warped)})


class ElastixAffine(ElastixRegistration):
    name = "elastix-affine"
    description = "elastix affine (itk-elastix, its default 'affine' parameter map)"
    maps = ("affine",)


class ElastixBSpline(ElastixRegistration):
    name = "elastix-bspline"
    description = "elastix affine then B-spline (itk-elastix, its default 'affine' and 'bspline' parameter maps)"
    maps = ("affine", "bspline")


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    for method in (ElastixAffine, ElastixBSpline):
        register(method, requires=("itk.ElastixPython",), install="pip install 'regbench[elastix]'")
