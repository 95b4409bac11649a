"""Warping: the one place that applies a displacement field.

Convention (docs/architecture.md): ``u`` has shape ``(ndim, *spatial)`` in voxel units and
pulls back, ``warped(x) = moving(x + u(x))``, as
``scipy.ndimage.map_coordinates(moving, identity + u)``. Images are interpolated
linearly, with 0 outside the image (``map_coordinates(..., order=1,
mode='grid-constant')``). Label maps are warped by nearest neighbour with torch's
rounding: exact half-voxel ties go to the even index, and a sample less than half a
voxel outside the image takes the edge voxel's label. Learn2Reg's evaluation warps
labels differently (halves up, 0 for any sample outside);
:func:`regbench.measuring.learn2reg.warp_labels` does it that way.

It is built on ``torch.nn.functional.grid_sample`` so the same code serves the harness
(numpy in, numpy out) and training loops (batched tensors on CPU or GPU).
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

Mode = Literal["linear", "nearest"]
_GRID_SAMPLE_MODE = {"linear": "bilinear", "nearest": "nearest"}  # bilinear is trilinear in 3D


@functools.lru_cache(maxsize=16)
def _identity_grid(shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Voxel coordinates, shape ``(ndim, *shape)``; cached since every pair reuses it."""
    axes = [torch.arange(n, device=device, dtype=dtype) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def warp_tensor(moving: torch.Tensor, displacement: torch.Tensor, mode: Mode = "linear") -> torch.Tensor:
    """Warp a batch: ``moving`` (B, C, *spatial), ``displacement`` (B, ndim, *spatial)."""
    spatial = tuple(moving.shape[2:])
    ndim = len(spatial)
    if ndim not in (2, 3):
        raise ValueError(f"moving must be (B, C, H, W) or (B, C, D, H, W), got shape {tuple(moving.shape)}")
    if tuple(displacement.shape) != (moving.shape[0], ndim, *spatial):
        raise ValueError(
            f"displacement must have shape {(moving.shape[0], ndim, *spatial)} for moving of shape "
            f"{tuple(moving.shape)}, got {tuple(displacement.shape)}"
        )
    grid = _identity_grid(spatial, displacement.device, displacement.dtype) + displacement
    # grid_sample wants coordinates in [-1, 1] (align_corners=True: -1 and 1 are the
    # centres of the first and last voxels), channels last, in (x, y[, z]) = reversed axis order.
    scale = torch.tensor([max(n - 1, 1) for n in spatial], device=grid.device, dtype=grid.dtype)
    grid = 2 * grid / scale.view(1, ndim, *([1] * ndim)) - 1
    grid = grid.movedim(1, -1).flip(-1)
    return F.grid_sample(
        moving.to(grid.dtype), grid, mode=_GRID_SAMPLE_MODE[mode], padding_mode="zeros", align_corners=True
    )


def _warp_array(array: np.ndarray, displacement: np.ndarray, mode: Mode, dtype: torch.dtype) -> torch.Tensor:
    if displacement.shape != (array.ndim, *array.shape):
        raise ValueError(
            f"displacement must have shape {(array.ndim, *array.shape)} for an array of shape "
            f"{array.shape}, got {displacement.shape}"
        )
    moving = torch.as_tensor(np.ascontiguousarray(array)).to(dtype)[None, None]
    disp = torch.as_tensor(np.ascontiguousarray(displacement)).to(dtype)[None]
    return warp_tensor(moving, disp, mode)[0, 0]


def warp_image(image: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """Linearly warp an image (spatial shape); float64 input is warped in float64."""
    dtype = torch.float64 if image.dtype == np.float64 else torch.float32
    return _warp_array(image, displacement, "linear", dtype).numpy()


def warp_labels(seg: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """Warp a label map by nearest neighbour; the result keeps ``seg``'s dtype."""
    if not np.issubdtype(seg.dtype, np.integer):
        raise TypeError(f"label maps must hold integers, got dtype {seg.dtype}")
    # float64 holds every integer label exactly (float32 would not past 2**24).
    return _warp_array(seg, displacement, "nearest", torch.float64).numpy().astype(seg.dtype)
