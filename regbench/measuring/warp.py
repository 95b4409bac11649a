"""Warping: the one place that applies a displacement field.

Convention (docs/architecture.md): ``u`` has shape ``(ndim, *spatial)`` in voxel units and
pulls back, ``warped(x) = moving(x + u(x))``, as
``scipy.ndimage.map_coordinates(moving, identity + u)``. Images are interpolated
linearly, with 0 outside the image (``map_coordinates(..., order=1,
mode='grid-constant')``), by ``torch.nn.functional.grid_sample``, so the same code
serves the harness (numpy in, numpy out) and training loops (batched tensors on CPU or
GPU).

Label maps are warped by nearest neighbour, the voxel index rounded from the exact
sample position ``x + u(x)`` (float64): exact half-voxel ties go to the even index, and
a sample less than half a voxel outside the image takes the edge voxel's label.
Learn2Reg's evaluation rounds halves up and reads 0 for any sample outside the image
(``rule="learn2reg"``, used by :func:`regbench.measuring.learn2reg.warp_labels`). Both
rules give the same labels on any device: ``grid_sample``'s nearest mode rounds a
position it has first scaled to [-1, 1] and back, so its ties fall either way with the
image size, and differently on CUDA.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

Mode = Literal["linear", "nearest"]
_GRID_SAMPLE_MODE = {"linear": "bilinear", "nearest": "nearest"}  # bilinear is trilinear in 3D
LabelRule = Literal["common", "learn2reg"]


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
    grid = grid.mul_(2).div_(scale.view(1, ndim, *([1] * ndim))).sub_(1)  # in place: one 3D grid is 240 MB
    grid = grid.movedim(1, -1).flip(-1)
    return F.grid_sample(
        moving.to(grid.dtype), grid, mode=_GRID_SAMPLE_MODE[mode], padding_mode="zeros", align_corners=True
    )


def _check_field(array: np.ndarray, displacement: np.ndarray) -> None:
    if displacement.shape != (array.ndim, *array.shape):
        raise ValueError(
            f"displacement must have shape {(array.ndim, *array.shape)} for an array of shape "
            f"{array.shape}, got {displacement.shape}"
        )


def warp_image(image: np.ndarray, displacement: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Linearly warp an image (spatial shape) on ``device``; float64 input is warped in float64."""
    _check_field(image, displacement)
    dtype = torch.float64 if image.dtype == np.float64 else torch.float32
    moving = torch.as_tensor(np.ascontiguousarray(image)).to(device, dtype)[None, None]
    field = torch.as_tensor(np.ascontiguousarray(displacement)).to(device, dtype)[None]
    return warp_tensor(moving, field, "linear")[0, 0].cpu().numpy()


def warp_labels(seg: np.ndarray, displacement: np.ndarray, rule: LabelRule = "common",
                device: str = "cpu") -> np.ndarray:
    """Warp a label map by nearest neighbour under ``rule`` (see the module's docstring),
    on ``device``; the result keeps ``seg``'s dtype."""
    if not np.issubdtype(seg.dtype, np.integer):
        raise TypeError(f"label maps must hold integers, got dtype {seg.dtype}")
    _check_field(seg, displacement)
    field = torch.as_tensor(np.ascontiguousarray(displacement)).to(device)
    inside = torch.ones(seg.shape, dtype=torch.bool, device=device)
    flat = torch.zeros(seg.shape, dtype=torch.int64, device=device)  # index into seg.ravel()
    for axis, n in enumerate(seg.shape):
        along = [1] * seg.ndim
        along[axis] = n
        # The sample's position, exact in float64 (a float32 field plus an integer).
        position = torch.arange(n, device=device, dtype=torch.float64).view(along) + field[axis].double()
        if rule == "learn2reg":  # map_coordinates(order=0, mode="constant"): halves up, 0 outside [0, n-1]
            inside &= (position >= 0) & (position <= n - 1)
            index = position.add_(0.5).floor_()
        else:
            index = position.round_()  # halves to even
            inside &= (index >= 0) & (index <= n - 1)
        flat.mul_(n).add_(index.clamp_(0, n - 1).long())
    labels = torch.as_tensor(np.ascontiguousarray(seg).astype(np.int64, copy=False)).to(device)
    warped = labels.view(-1)[flat.view(-1)].view(seg.shape).masked_fill_(~inside, 0)
    return warped.cpu().numpy().astype(seg.dtype, copy=False)
