"""An independent re-statement of the Learn2Reg challenge's evaluation, built only from
the libraries it uses (scipy's ``map_coordinates`` and ``correlate``, DeepMind's
surface-distance, numpy), step by step as its script does them: the oracle that
regbench's ``l2r_*`` metrics are tested and measured against. It shares no code with
regbench.

The script warps labels and reads fields channels last (``disp[..., axis]``), works
on float64 label maps, and aggregates per-pair means with mean, population std and the
0.3 quantile. Its 3D rules are applied to 2D fields with a 2×2 Jacobian.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def surface_distance_modules():
    """surface-distance's two functions; its release names ``np.Inf`` (gone in NumPy 2) on
    the path of an empty mask, so that name is restored for the oracle."""
    if not hasattr(np, "Inf"):
        np.Inf = np.inf  # noqa: NPY201 - what the library reads
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from surface_distance import (
            compute_dice_coefficient,
            compute_robust_hausdorff,
            compute_surface_distances,
        )
    return compute_dice_coefficient, compute_surface_distances, compute_robust_hausdorff


def warp_seg(moving_seg: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """``disp`` channels last, voxel units."""
    grid = np.meshgrid(*[np.arange(n) for n in moving_seg.shape], indexing="ij")
    coordinates = np.stack(grid) + np.moveaxis(disp, -1, 0)
    return ndimage.map_coordinates(moving_seg.astype(np.float64), coordinates, order=0)


def dice(fixed: np.ndarray, moving: np.ndarray, warped: np.ndarray, labels: Sequence[int]) -> tuple[float, list]:
    compute_dice_coefficient, _, _ = surface_distance_modules()
    values = [np.nan if not (fixed == i).any() or not (moving == i).any()
              else compute_dice_coefficient(fixed == i, warped == i) for i in labels]
    return float(np.nanmean(values)), values


def hd95(fixed: np.ndarray, moving: np.ndarray, warped: np.ndarray, labels: Sequence[int],
         spacing: Sequence[float]) -> tuple[float, list]:
    _, compute_surface_distances, compute_robust_hausdorff = surface_distance_modules()
    values = []
    for i in labels:
        if not (fixed == i).any() or not (moving == i).any():
            values.append(np.nan)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            distances = compute_surface_distances(fixed == i, warped == i, np.asarray(spacing, dtype=float))
        values.append(compute_robust_hausdorff(distances, 95.0))
    return float(np.nanmean(values)), values


def jacobian_determinant(disp: np.ndarray) -> np.ndarray:
    """det of identity + grad(disp) by correlation with [-0.5, 0, 0.5], zero padding,
    cropped by 2 voxels per side; ``disp`` channels last."""
    ndim = disp.shape[-1]
    kernel_shape = np.ones(ndim, dtype=int)
    gradient = np.empty((ndim, ndim, *disp.shape[:-1]))
    for axis in range(ndim):
        shape = kernel_shape.copy()
        shape[axis] = 3
        kernel = np.array([-0.5, 0.0, 0.5]).reshape(shape)
        for component in range(ndim):
            gradient[axis, component] = ndimage.correlate(disp[..., component], kernel, mode="constant", cval=0.0)
    jacobian = gradient + np.eye(ndim).reshape(ndim, ndim, *([1] * ndim))
    jacobian = jacobian[(slice(None), slice(None), *[slice(2, -2)] * ndim)]
    return np.linalg.det(np.moveaxis(jacobian, (0, 1), (-2, -1)))


def sdlogj(disp: np.ndarray) -> float:
    return float(np.log(np.clip(jacobian_determinant(disp) + 3, 1e-9, 1e9)).std())


def evaluate_pair(fixed_seg: np.ndarray, moving_seg: np.ndarray, disp: np.ndarray, labels: Sequence[int],
                  spacing: Sequence[float]) -> dict[str, float]:
    """One case's values, ``disp`` channels last."""
    warped = warp_seg(moving_seg, disp)
    return {"l2r_dice": dice(fixed_seg, moving_seg, warped, labels)[0],
            "l2r_hd95": hd95(fixed_seg, moving_seg, warped, labels, spacing)[0],
            "l2r_sdlogj": sdlogj(disp)}


def aggregate(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "std": float(array.std()), "30": float(np.quantile(array, 0.3))}


def compute_tre(fix_lms: np.ndarray, mov_lms: np.ndarray, disp: np.ndarray, spacing_mov: Sequence[float]) -> np.ndarray:
    """The challenge's ``compute_tre``: each channel of ``disp`` (channels last, float64 as
    ``get_fdata`` gives it) sampled at the fixed landmarks by ``map_coordinates`` with its
    defaults, the moved landmarks' difference to the moving ones scaled by the moving
    spacing, the norm per landmark."""
    disp = np.asarray(disp, dtype=np.float64)
    moved = np.array([ndimage.map_coordinates(disp[..., axis], fix_lms.transpose())
                      for axis in range(disp.shape[-1])]).transpose()
    return np.linalg.norm((fix_lms + moved - mov_lms) * np.asarray(spacing_mov), axis=1)
