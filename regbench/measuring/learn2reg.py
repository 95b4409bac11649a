"""The Learn2Reg challenge's evaluation, exactly: the numbers its leaderboards and the
papers that quote them report, so that a regbench table can stand beside theirs.

Each function follows the challenge's evaluation script (``evaluation/evaluation.py``
and ``evaluation/utils.py`` of MDL-UzL/L2R) rule for rule; where they differ from the
common family (:mod:`regbench.measuring.metrics`) the difference is the point:

- Labels are warped with ``scipy.ndimage.map_coordinates(seg, identity + u, order=0)``:
  nearest neighbour rounding halves up, 0 for samples outside the image.
- A label absent from the fixed map **or from the original moving map** scores NaN,
  and the per-pair value is the ``nanmean`` over labels. A label present in both but
  lost by the warp scores 0 (Dice) and infinity (HD95).
- HD95 comes from DeepMind's ``surface-distance`` (``compute_surface_distances`` then
  ``compute_robust_hausdorff(.., 95)``): surface elements on the voxel-corner grid,
  weighted by their area, at the given spacing (the challenge's script passes unit
  spacing; its OASIS task is 1 mm isotropic).
- SDlogJ is ``std(log(clip(det J + 3, 1e-9, 1e9)))``, with det J from central
  differences (zero padding) cropped by 2 voxels on every side. The ``+ 3`` is in
  every version of the script and damps the value several-fold against
  ``std(log det J)``; 2D fields get the same rule with a 2×2 Jacobian.
- Robust aggregates over pairs (DSC30, HD95-30) are the 0.3 quantile of the per-pair
  values (``np.quantile(values, .3)``), as the script computes for every metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from regbench.measuring.metrics import dice_per_label

CROP = 2  # voxels dropped from every side of the Jacobian
SHIFT = 3.0  # added to det J before the logarithm
ROBUST_QUANTILE = 0.3


def warp_labels(seg: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """``seg`` pulled back through ``displacement`` (ndim, *spatial), voxel units, as the
    challenge warps label maps."""
    if displacement.shape != (seg.ndim, *seg.shape):
        raise ValueError(f"displacement must have shape {(seg.ndim, *seg.shape)} for labels of shape "
                         f"{seg.shape}, got {displacement.shape}")
    coordinates = np.indices(seg.shape, dtype=np.float64) + displacement
    return ndimage.map_coordinates(seg, coordinates, order=0, mode="constant", cval=0)


def _present(seg: np.ndarray, ids: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.asarray(seg).ravel().astype(np.int64), minlength=int(ids.max(initial=0)) + 1)
    return counts[ids] > 0


def _scored(fixed_seg: np.ndarray, moving_seg: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Whether each label is present in both the fixed and the original moving map."""
    ids = np.asarray(labels, dtype=np.int64)
    return _present(fixed_seg, ids) & _present(moving_seg, ids)


def dice(fixed_seg: np.ndarray, moving_seg: np.ndarray, warped_seg: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Dice per label, NaN for a label absent from the fixed or the original moving map."""
    values = dice_per_label(fixed_seg, warped_seg, labels)
    return np.where(_scored(fixed_seg, moving_seg, labels), values, np.nan)


def hd95(
    fixed_seg: np.ndarray,
    moving_seg: np.ndarray,
    warped_seg: np.ndarray,
    labels: Sequence[int],
    spacing: Sequence[float],
) -> np.ndarray:
    """Robust (95 %) Hausdorff distance per label in the units of ``spacing``, NaN for a
    label absent from the fixed or the original moving map, infinite for one the warp lost."""
    from surface_distance import compute_robust_hausdorff, compute_surface_distances  # noqa: PLC0415

    if len(spacing) != fixed_seg.ndim:
        raise ValueError(f"spacing {tuple(spacing)} does not match {fixed_seg.ndim}D label maps")
    result = np.full(len(labels), np.nan)
    for index, (label, scored) in enumerate(zip(labels, _scored(fixed_seg, moving_seg, labels), strict=True)):
        if not scored:
            continue
        predicted = warped_seg == label
        if not predicted.any():
            # What surface-distance returns for an empty prediction; computed here because
            # its release reaches for np.Inf on that path, which NumPy 2 removed.
            result[index] = np.inf
            continue
        with warnings.catch_warnings():  # it imports from scipy.ndimage's deprecated submodules
            warnings.simplefilter("ignore", DeprecationWarning)
            distances = compute_surface_distances(fixed_seg == label, predicted, np.asarray(spacing, dtype=float))
        result[index] = compute_robust_hausdorff(distances, 95.0)
    return result


def cropped_jacobian(jacobian: np.ndarray) -> np.ndarray:
    """det J without the outer :data:`CROP` voxels of every side, where the challenge's zero
    padding would bias the central differences (inside them, central differences with
    zero padding equal ``np.gradient``'s, which :func:`regbench.measuring.metrics.jacobian_determinant` uses)."""
    return jacobian[(slice(CROP, -CROP),) * jacobian.ndim]


def sd_log_jacobian(jacobian: np.ndarray) -> float:
    """``std(log(clip(det J + 3, 1e-9, 1e9)))`` over the cropped ``jacobian`` of the whole
    field; NaN when cropping leaves no voxel."""
    inner = cropped_jacobian(jacobian)
    if inner.size == 0:
        return float("nan")
    return float(np.log(np.clip(inner + SHIFT, 1e-9, 1e9)).std())
