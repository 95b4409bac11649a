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
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from scipy import ndimage

from regbench.measuring import regions

if TYPE_CHECKING:
    import torch

ArrayOrTensor: TypeAlias = "np.ndarray | torch.Tensor"


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

    Surfaces are found in the bounding box of the label in both maps (plus a margin), so
    the cost follows the label's size, and their distances from a k-d tree of surface
    voxels; labels are measured side by side on the run's threads.
    """
    if fixed_seg.shape != warped_seg.shape:
        raise ValueError(f"label maps differ in shape: {fixed_seg.shape} vs {warped_seg.shape}")
    if len(spacing) != fixed_seg.ndim:
        raise ValueError(f"spacing {tuple(spacing)} does not match {fixed_seg.ndim}D label maps")
    in_fixed, in_warped = regions.boxes(fixed_seg, labels), regions.boxes(warped_seg, labels)

    def measure(index: int) -> float:
        if in_fixed[index] is None or in_warped[index] is None:
            return np.nan
        box = regions.union(in_fixed[index], in_warped[index], margin=1)
        a, b = fixed_seg[box] == labels[index], warped_seg[box] == labels[index]
        surface_a, surface_b = _surface(a), _surface(b)
        to_b = regions.distances_to(surface_b, surface_a, spacing)
        to_a = regions.distances_to(surface_a, surface_b, spacing)
        return max(np.percentile(to_b, 95), np.percentile(to_a, 95))

    return np.array(regions.per_label(measure, len(labels)), dtype=float)


def _differences(values: torch.Tensor, dim: int) -> torch.Tensor:
    """``np.gradient``'s differences along ``dim`` (unit spacing): central inside, one-sided
    at both ends, written straight into one new tensor (no padded copies: nine of them
    make a 3D Jacobian)."""
    import torch  # noqa: PLC0415

    n = values.shape[dim]
    out = torch.empty_like(values)
    torch.sub(values.narrow(dim, 2, n - 2), values.narrow(dim, 0, n - 2), out=out.narrow(dim, 1, n - 2))
    out.narrow(dim, 1, n - 2).div_(2.0)
    torch.sub(values.narrow(dim, 1, 1), values.narrow(dim, 0, 1), out=out.narrow(dim, 0, 1))
    torch.sub(values.narrow(dim, n - 1, 1), values.narrow(dim, n - 2, 1), out=out.narrow(dim, n - 1, 1))
    return out


def jacobian_determinant(displacement: ArrayOrTensor) -> ArrayOrTensor:
    """det of the Jacobian of ``x + u(x)``, for ``u`` of shape (ndim, *spatial), voxel units,
    in ``u``'s precision and by torch wherever ``u`` lives (numpy in, numpy out); the same
    numbers as ``np.gradient`` and the cofactor expansion on numpy arrays."""
    import torch  # noqa: PLC0415 - only where a Jacobian is asked for

    ndim = displacement.shape[0]
    if ndim not in (2, 3) or displacement.ndim != ndim + 1 or min(displacement.shape[1:]) < 2:
        raise ValueError(f"displacement must have shape (ndim, *spatial) with ndim 2 or 3 and at least 2 voxels "
                         f"per axis, got {tuple(displacement.shape)}")
    field = torch.as_tensor(displacement)
    # d[i][j] = d(x_i + u_i) / dx_j
    d = [[_differences(field[i], j) for j in range(ndim)] for i in range(ndim)]
    for i in range(ndim):
        d[i][i] += 1.0

    def cross(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        product = a * b  # a b - c e, in place: every full-size temporary is 40 MB in 3D
        product -= c * e
        return product

    if ndim == 2:
        return _like(displacement, cross(d[0][0], d[1][1], d[0][1], d[1][0]))
    # d00 (d11 d22 - d12 d21) - d01 (d10 d22 - d12 d20) + d02 (d10 d21 - d11 d20)
    det = cross(d[1][1], d[2][2], d[1][2], d[2][1]).mul_(d[0][0])
    det -= cross(d[1][0], d[2][2], d[1][2], d[2][0]).mul_(d[0][1])
    det += cross(d[1][0], d[2][1], d[1][1], d[2][0]).mul_(d[0][2])
    return _like(displacement, det)


def _like(source: ArrayOrTensor, result: torch.Tensor) -> ArrayOrTensor:
    """``result`` as numpy where ``source`` was."""
    return result.numpy() if isinstance(source, np.ndarray) else result


def folding_percent(jacobian: ArrayOrTensor) -> float:
    """% of voxels where the map folds (det J ≤ 0), counted wherever ``jacobian`` lives."""
    import torch  # noqa: PLC0415

    det = torch.as_tensor(jacobian)
    return 100.0 * int((det <= 0).sum()) / det.numel()


def sd_log_jacobian(jacobian: ArrayOrTensor) -> float:
    """Standard deviation of log det J over the whole image, det J clipped to [1e-9, 1e9]."""
    return log_std(jacobian, 0.0)


def log_std(jacobian: ArrayOrTensor, shift: float) -> float:
    """``std(log(clip(det J + shift, 1e-9, 1e9)))`` (population std), computed wherever
    ``jacobian`` lives (a numpy array is read in place, a GPU tensor summarised there)."""
    import torch  # noqa: PLC0415

    return float((torch.as_tensor(jacobian) + shift).clamp_(1e-9, 1e9).log_().std(correction=0))


def mean_squared_error(fixed: np.ndarray, warped: np.ndarray) -> float:
    return float(np.mean((np.asarray(fixed, np.float64) - warped) ** 2))


def normalized_cross_correlation(fixed: np.ndarray, warped: np.ndarray) -> float:
    """Pearson correlation of the two images' intensities (1: identical up to gain and offset)."""
    a = np.asarray(fixed, np.float64).ravel()
    b = np.asarray(warped, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")
