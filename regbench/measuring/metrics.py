"""The field's common registration metrics, computed as most papers compute them
(VoxelMorph, TransMorph, MedPy). Learn2Reg's evaluation defines some of them
differently; :mod:`regbench.measuring.learn2reg` computes those exactly.

- Dice per label, ``2|A∩B| / (|A|+|B|)``; background (0) is never scored, since it
  inflates Dice. A label absent from both maps has no Dice: NaN, skipped by summaries.
- HD95 per label: the larger of the two directed 95th percentiles of the distances
  between the centres of the label's boundary voxels in the two maps, in mm (voxel
  spacing aware), as MedPy's ``hd95``. A label missing from either map gives NaN.
- Jacobian determinant of ``x + u(x)`` with central differences (``np.gradient``, as
  VoxelMorph) over the whole image; folding is the % of voxels with det ≤ 0; SDlogJ is
  the standard deviation of ``log(clip(det, 1e-9, 1e9))``.
- Image similarity after warping: mean squared error and (global) normalised
  cross-correlation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def dice_per_label(fixed_seg: np.ndarray, warped_seg: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Dice of each label in ``labels`` between two label maps of one shape.

    Uses one pass of ``np.bincount`` per map instead of one comparison per label, so
    the cost does not grow with the number of labels (35 in OASIS 3D).
    """
    if fixed_seg.shape != warped_seg.shape:
        raise ValueError(f"label maps differ in shape: {fixed_seg.shape} vs {warped_seg.shape}")
    label_ids = np.asarray(labels, dtype=np.int64)
    if label_ids.size and (label_ids <= 0).any():
        raise ValueError(f"labels must be positive (0 is background), got {sorted(label_ids.tolist())}")
    fixed = np.asarray(fixed_seg).ravel().astype(np.int64, copy=False)
    warped = np.asarray(warped_seg).ravel().astype(np.int64, copy=False)
    for name, seg in (("fixed_seg", fixed), ("warped_seg", warped)):
        if seg.size and seg.min() < 0:
            raise ValueError(f"{name} holds negative labels; expected labels >= 0")
    size = int(max(label_ids.max(initial=0), fixed.max(initial=0), warped.max(initial=0))) + 1
    in_fixed = np.bincount(fixed, minlength=size)[label_ids]
    in_warped = np.bincount(warped, minlength=size)[label_ids]
    in_both = np.bincount(fixed[fixed == warped], minlength=size)[label_ids]
    total = in_fixed + in_warped
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2.0 * in_both / total, np.nan)


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation, skipping NaN; NaN when nothing is left."""
    finite = np.asarray(values, dtype=float)
    finite = finite[~np.isnan(finite)]
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(finite.mean()), float(finite.std())


def _surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face-neighbour outside it."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def hd95_per_label(
    fixed_seg: np.ndarray, warped_seg: np.ndarray, labels: Sequence[int], spacing: Sequence[float]
) -> np.ndarray:
    """95th-percentile Hausdorff distance of each label, in the units of ``spacing``.

    Distances come from Euclidean distance transforms restricted to the bounding box
    of the label in both maps (plus a margin), so the cost follows the label's size.
    """
    if fixed_seg.shape != warped_seg.shape:
        raise ValueError(f"label maps differ in shape: {fixed_seg.shape} vs {warped_seg.shape}")
    if len(spacing) != fixed_seg.ndim:
        raise ValueError(f"spacing {tuple(spacing)} does not match {fixed_seg.ndim}D label maps")
    result = np.full(len(labels), np.nan)
    for index, label in enumerate(labels):
        a, b = fixed_seg == label, warped_seg == label
        if not a.any() or not b.any():
            continue
        corners = np.argwhere(a | b)
        box = tuple(slice(max(lo - 1, 0), hi + 2) for lo, hi in zip(corners.min(0), corners.max(0)))
        surface_a, surface_b = _surface(a[box]), _surface(b[box])
        to_b = ndimage.distance_transform_edt(~surface_b, sampling=spacing)[surface_a]
        to_a = ndimage.distance_transform_edt(~surface_a, sampling=spacing)[surface_b]
        result[index] = max(np.percentile(to_b, 95), np.percentile(to_a, 95))
    return result


def jacobian_determinant(displacement: np.ndarray) -> np.ndarray:
    """det of the Jacobian of ``x + u(x)``, for ``u`` of shape (ndim, *spatial), voxel units."""
    ndim = displacement.shape[0]
    if ndim not in (2, 3) or displacement.ndim != ndim + 1:
        raise ValueError(f"displacement must have shape (ndim, *spatial) with ndim 2 or 3, got {displacement.shape}")
    # d[i][j] = d(x_i + u_i) / dx_j
    d = [[g + (1.0 if i == j else 0.0) for j, g in enumerate(np.gradient(displacement[i]))] for i in range(ndim)]
    if ndim == 2:
        return d[0][0] * d[1][1] - d[0][1] * d[1][0]
    return (
        d[0][0] * (d[1][1] * d[2][2] - d[1][2] * d[2][1])
        - d[0][1] * (d[1][0] * d[2][2] - d[1][2] * d[2][0])
        + d[0][2] * (d[1][0] * d[2][1] - d[1][1] * d[2][0])
    )


def folding_percent(jacobian: np.ndarray) -> float:
    """% of voxels where the map folds (det J ≤ 0)."""
    return float(100.0 * np.mean(jacobian <= 0))


def sd_log_jacobian(jacobian: np.ndarray) -> float:
    """Standard deviation of log det J over the whole image, det J clipped to [1e-9, 1e9]."""
    return float(np.log(np.clip(jacobian, 1e-9, 1e9)).std())


def mean_squared_error(fixed: np.ndarray, warped: np.ndarray) -> float:
    return float(np.mean((np.asarray(fixed, np.float64) - warped) ** 2))


def normalized_cross_correlation(fixed: np.ndarray, warped: np.ndarray) -> float:
    """Pearson correlation of the two images' intensities (1: identical up to gain and offset)."""
    a = np.asarray(fixed, np.float64).ravel()
    b = np.asarray(warped, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")
