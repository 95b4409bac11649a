"""``convexadam``: ConvexAdam (Siebert, Hansen and Heinrich; first in several Learn2Reg
tasks), through its package ``convexAdam``: MIND-SSC features, a discrete correlation
volume solved by coupled convex optimisation (made inverse consistent), then Adam
instance optimisation of a B-spline-smoothed field with diffusion regularisation.

The settings are the package's own defaults (``convex_adam_pt``): MIND radius 1 and
dilation 2, a grid of 6 voxels and a search of ±4 grid steps for the convex stage,
inverse consistency, then 80 Adam iterations on a grid of 2 voxels with
``lambda_weight`` 1.25 and no extra smoothing. Its result is a displacement in voxels
along the array's axes that pulls the moving image back (``moving(x + u(x))``, as its
``apply_convex`` warps), which is regbench's convention already.

ConvexAdam is written for 3D volumes only (``conv3d``, ``avg_pool3d``); a 2D image is
refused. It has no random step: on the CPU a pair gives the same field every time for
one thread count, so the method runs once per ``--seeds``. It computes in float32 on
the CPU and, as the package does by default, in float16 on a GPU.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from regbench import Method, Range, RegistrationResult, Registry, TrainingContext, hookimpl
from regbench.measuring import devices


@functools.cache
def _convex_adam() -> Callable[..., np.ndarray]:
    """``convex_adam_pt``, imported without its side effect: the package's modules turn
    every warning of the process off (``warnings.filterwarnings("ignore")``) on import."""
    with warnings.catch_warnings():
        from convexAdam.convex_adam_MIND import convex_adam_pt  # noqa: PLC0415
    return convex_adam_pt


class ConvexAdam(Method):
    name = "convexadam"
    description = "ConvexAdam (MIND + coupled convex optimisation + Adam; convexAdam's defaults; 3D; GPU when there)"
    default_params: ClassVar = {"mind_r": 1, "mind_d": 2, "grid_sp": 6, "disp_hw": 4, "ic": True,
                                "niter": 80, "grid_sp_adam": 2, "lambda_weight": 1.25, "smooth": 0}
    param_rules: ClassVar = {
        **dict.fromkeys(("mind_r", "mind_d", "grid_sp", "disp_hw", "niter", "grid_sp_adam"), Range(at_least=1)),
        "lambda_weight": Range(above=0),  # at 0 the package skips its Adam stage, niter unused
        "smooth": Range(at_least=0),  # a box-filter width, odd (checked below), or 0 for none
    }
    seeded = False
    dimensions = (3,)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._device = devices.pick_device()
        if self.params["smooth"] and self.params["smooth"] % 2 == 0:
            raise ValueError(f"method {self.name!r}: smooth is a box-filter width and must be odd (or 0 for none), "
                             f"got {self.params['smooth']}")

    @property
    def device(self) -> str:
        return devices.device_name(self._device)

    def prepare(self, context: TrainingContext) -> None:
        _convex_adam()  # imported now, not within the first pair's timing

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        if fixed.ndim != 3:
            raise ValueError(f"method {self.name!r} registers 3D volumes only (ConvexAdam's features and "
                             f"optimisation are 3D), got an image of shape {fixed.shape}")
        coarsest = self.params["grid_sp"] * 3  # its cost volume is box-filtered over 3 cells
        if min(fixed.shape) < coarsest:
            raise ValueError(f"method {self.name!r} needs at least {coarsest} voxels along every axis (three "
                             f"convex-grid cells of grid_sp={self.params['grid_sp']}), got shape {fixed.shape}")
        with warnings.catch_warnings():
            # its inverse-consistency step calls grid_sample without align_corners, on purpose
            warnings.filterwarnings("ignore", "Default grid_sample and affine_grid behavior", UserWarning)
            displacement = self.displacement(fixed, moving)
        return RegistrationResult(np.ascontiguousarray(np.moveaxis(displacement, -1, 0), dtype=np.float32))

    def displacement(self, fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """ConvexAdam's own result: a displacement ``(*spatial, 3)`` in voxels."""
        import torch  # noqa: PLC0415

        p = self.params
        return _convex_adam()(
            torch.from_numpy(np.array(fixed, np.float32)), torch.from_numpy(np.array(moving, np.float32)),
            mind_r=p["mind_r"], mind_d=p["mind_d"], lambda_weight=p["lambda_weight"], grid_sp=p["grid_sp"],
            disp_hw=p["disp_hw"], selected_niter=p["niter"], selected_smooth=p["smooth"],
            grid_sp_adam=p["grid_sp_adam"], ic=p["ic"], device=self._device,
            dtype=torch.float16 if self._device.type == "cuda" else torch.float32)


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    register(ConvexAdam, requires=("convexAdam",), install="pip install 'regbench[convexadam]'")
