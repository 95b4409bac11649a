"""``fireants``: FireANTs, PyTorch multi-scale diffeomorphic registration, on a GPU when
PyTorch sees one and on the CPU otherwise.

The pipeline is FireANTs' own example: an affine registration (scales 6, 4, 2, 1;
200, 100, 50, 20 iterations; Adam, learning rate 3e-3; local cross-correlation over 5
voxels), then greedy compositive deformable registration from it (scales 4, 2, 1; 200,
100, 50 iterations; Adam, learning rate 0.5; gradient smoothing 1, warp smoothing 0.5).
Its result is the sampling grid of ``torch.nn.functional.grid_sample`` (normalised to
[-1, 1] with corners aligned, x first), turned here into voxels in numpy's axis order.

FireANTs has no random step: on the CPU a pair gives the same field every time for one
thread count (``--threads``, torch's), so the method runs once per ``--seeds``; on a GPU,
CUDA's atomic additions in ``grid_sample``'s backward pass may change the last bits.
Importing FireANTs prints to the terminal and installs a logging handler on the root
logger: the import here is silent and leaves the process's logging as it found it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from regbench import Method, Range, RegistrationResult, Registry, TrainingContext, hookimpl
from regbench.measuring import devices


@functools.cache
def _fireants() -> SimpleNamespace:
    """FireANTs' image and registration classes, imported without its side effects."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import SimpleITK as sitk  # noqa: PLC0415
        from fireants.io import BatchedImages, Image  # noqa: PLC0415
        from fireants.registration.affine import AffineRegistration  # noqa: PLC0415
        from fireants.registration.greedy import GreedyRegistration  # noqa: PLC0415
    root.handlers[:], root.level = handlers, level
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("fireants"):
            logging.getLogger(name).setLevel(logging.ERROR)  # its per-level INFO and "no fused ops" warnings
    return SimpleNamespace(sitk=sitk, Image=Image, BatchedImages=BatchedImages, AffineRegistration=AffineRegistration,
                           GreedyRegistration=GreedyRegistration)


def field_from_grid(grid: np.ndarray) -> np.ndarray:
    """A ``grid_sample`` grid ``(*spatial, ndim)`` (normalised, corners aligned, x first) on
    the fixed image's voxels, sampling a moving image of the same shape, as regbench's
    displacement ``(ndim, *spatial)`` in voxels and numpy's axis order."""
    shape = np.asarray(grid.shape[:-1])
    voxels = (grid[..., ::-1].astype(np.float64) + 1) * (shape - 1) / 2
    return (np.moveaxis(voxels, -1, 0) - np.indices(grid.shape[:-1])).astype(np.float32)


class FireANTs(Method):
    name = "fireants"
    description = "FireANTs (PyTorch; affine then greedy diffeomorphic, as its example; GPU when there)"
    default_params: ClassVar = {"affine_iterations": (200, 100, 50, 20), "iterations": (200, 100, 50)}
    param_rules: ClassVar = {"affine_iterations": Range(at_least=0), "iterations": Range(at_least=0)}  # per scale
    seeded = False
    AFFINE_SCALES: ClassVar = (6, 4, 2, 1)
    SCALES: ClassVar = (4, 2, 1)
    SMALLEST: ClassVar = 32  # voxels along an axis: FireANTs 1.5 compares mismatched shapes below

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._device = devices.pick_device()
        for name, scales in (("affine_iterations", self.AFFINE_SCALES), ("iterations", self.SCALES)):
            if len(self.params[name]) != len(scales):
                raise ValueError(f"method {self.name!r}: {name} needs one count per scale {scales}, "
                                 f"got {self.params[name]}")

    @property
    def device(self) -> str:
        return devices.device_name(self._device)

    def prepare(self, context: TrainingContext) -> None:
        _fireants()

    def images(self, image: np.ndarray, segmentation: bool = False):  # noqa: ANN201 - a fireants BatchedImages
        """``image`` as FireANTs takes it, on the method's device."""
        fa = _fireants()
        volume = fa.sitk.GetImageFromArray(np.ascontiguousarray(image, dtype=np.float32))
        return fa.BatchedImages([fa.Image(volume, device=self._device.type, is_segmentation=segmentation)])

    def registration(self, fixed: np.ndarray, moving: np.ndarray):  # noqa: ANN201
        """FireANTs' optimised deformable registration (affine first), with the fixed and
        moving images it was given."""
        if min(fixed.shape) < self.SMALLEST:
            raise ValueError(f"method {self.name!r} needs at least {self.SMALLEST} voxels along every axis (FireANTs' "
                             f"multi-scale losses fail on fewer), got an image of shape {fixed.shape}")
        fa = _fireants()
        fixed_batch, moving_batch = self.images(fixed), self.images(moving)
        affine = fa.AffineRegistration(list(self.AFFINE_SCALES), list(self.params["affine_iterations"]), fixed_batch,
                                       moving_batch, optimizer="Adam", optimizer_lr=3e-3, cc_kernel_size=5,
                                       progress_bar=False)
        affine.optimize()
        deformable = fa.GreedyRegistration(
            scales=list(self.SCALES), iterations=list(self.params["iterations"]), fixed_images=fixed_batch,
            moving_images=moving_batch, cc_kernel_size=5, deformation_type="compositive", smooth_grad_sigma=1,
            smooth_warp_sigma=0.5, optimizer="adam", optimizer_lr=0.5, init_affine=affine.get_affine_matrix().detach(),
            progress_bar=False)
        deformable.optimize()
        return deformable, fixed_batch, moving_batch

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        deformable, fixed_batch, moving_batch = self.registration(fixed, moving)
        grid = deformable.get_warped_coordinates(fixed_batch, moving_batch).detach()[0].cpu().numpy()
        return RegistrationResult(field_from_grid(grid))


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    register(FireANTs, requires=("fireants", "SimpleITK"), install="pip install 'regbench[fireants]'")
