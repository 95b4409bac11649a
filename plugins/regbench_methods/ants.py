"""``ants-affine`` and ``ants-syn``: ANTs through antspyx, the classical baselines.

``ants-affine`` is the reference paper's "Affine" row; ``ants-syn`` is the classical
deformable reference the field compares against. Both run ``ants.registration`` with
its defaults and hand regbench the composed transforms as a dense displacement field,
so the harness warps the labels itself, exactly as for every other method.

Two habits of antspyx are corrected here:
- it leaves its transform files in the temp folder: every call works in a private
  temporary directory that is removed afterwards;
- its ``random_seed`` is ignored and ``set_ants_deterministic`` refuses non-"Repro"
  transforms: the seed goes through ``ANTS_RANDOM_SEED`` (never 0, which ANTs takes
  as "seed from the clock") and ITK runs on one thread
  (``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=1``, set before antspyx is imported), which
  makes runs repeatable and, on 2D slices, is also faster than several threads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from types import ModuleType
from typing import ClassVar

import numpy as np

from regbench import Method, RegistrationResult, Registry, TrainingContext, hookimpl


@functools.cache
def _ants() -> ModuleType:
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = "1"
    import ants

    return ants


def ants_seed(seed: int) -> int:
    """A positive ANTs seed derived from regbench's: ANTs treats 0 as "seed from the clock"."""
    return int(np.random.SeedSequence(seed).generate_state(1)[0]) % (2**31 - 1) + 1


@contextlib.contextmanager
def _ants_random_seed(seed: int) -> Iterator[None]:
    previous = os.environ.get("ANTS_RANDOM_SEED")
    os.environ["ANTS_RANDOM_SEED"] = str(ants_seed(seed))
    try:
        yield
    finally:
        if previous is None:
            del os.environ["ANTS_RANDOM_SEED"]
        else:
            os.environ["ANTS_RANDOM_SEED"] = previous


def displacement_from_transforms(transforms: list[str], shape: tuple[int, ...]) -> np.ndarray:
    """ANTs' forward transforms as one dense field of shape (ndim, *shape), in voxels.

    ``ants.registration`` returns ``[affine]`` (Affine) or ``[warp, affine]`` (SyN),
    which map a fixed-image point p to the moving image as ``A(p + w(p))`` with
    ``A(q) = M (q - c) + c + t``. With unit spacing, zero origin and identity direction
    (as ``ants.from_numpy`` makes them) physical points are voxel indices, so the
    pull-back displacement is ``A(p + w(p)) - p``. This equals what
    ``ants.apply_transforms(..., compose=...)`` writes (tested) without its round trip
    through compressed files.
    """
    ants = _ants()
    *warps, affine_file = transforms
    if len(warps) > 1:
        raise ValueError(f"expected [affine] or [warp, affine] from ants.registration, got {transforms}")
    affine = ants.read_transform(affine_file)
    ndim = len(shape)
    parameters = np.asarray(affine.parameters, dtype=np.float64)
    matrix, translation = parameters[: ndim * ndim].reshape(ndim, ndim), parameters[ndim * ndim :]
    centre = np.asarray(affine.fixed_parameters, dtype=np.float64).reshape(ndim, *([1] * ndim))
    grid = np.indices(shape, dtype=np.float64)
    points = grid + np.moveaxis(ants.image_read(warps[0]).numpy(), -1, 0) if warps else grid
    mapped = np.tensordot(matrix, points - centre, axes=1) + centre + translation.reshape(centre.shape)
    return (mapped - grid).astype(np.float32)


class AntsRegistration(Method):
    """``ants.registration`` with one ``type_of_transform``, returned as a dense field."""

    type_of_transform: ClassVar[str]

    def prepare(self, context: TrainingContext) -> None:
        _ants()  # import (and load ITK) now, so that it is not timed as part of the first pair

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        ants = _ants()
        fixed_image = ants.from_numpy(np.ascontiguousarray(fixed, dtype=np.float32))
        moving_image = ants.from_numpy(np.ascontiguousarray(moving, dtype=np.float32))
        with tempfile.TemporaryDirectory(prefix="regbench-ants-") as workdir, _ants_random_seed(self.seed):
            out = ants.registration(
                fixed_image, moving_image, type_of_transform=self.type_of_transform, outprefix=f"{workdir}/"
            )
            displacement = displacement_from_transforms(out["fwdtransforms"], fixed.shape)
        return RegistrationResult(displacement, extras={"warped": out["warpedmovout"].numpy()})


class AntsAffine(AntsRegistration):
    name = "ants-affine"
    description = "ANTs affine registration (antspyx, type_of_transform='Affine'): the paper's baseline"
    type_of_transform = "Affine"


class AntsSyN(AntsRegistration):
    name = "ants-syn"
    description = "ANTs SyN (antspyx, type_of_transform='SyN': affine + symmetric normalisation)"
    type_of_transform = "SyN"


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    for method in (AntsAffine, AntsSyN):
        register(method, requires=("ants",), install="pip install 'regbench[ants]'")
