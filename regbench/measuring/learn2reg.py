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
- TRE (the lung tasks' keypoints) is ``compute_tre``: each component of the field
  sampled at the fixed landmarks by ``map_coordinates`` with scipy's defaults (a
  prefiltered cubic spline, order 3, not linear; 0 outside the image), added to them,
  the difference to the moving landmarks scaled by the moving image's spacing; the
  pair's value is the mean over landmarks.
- Robust aggregates over pairs: DSC30 and HD95-30 are the 0.3 quantile of the per-pair
  values (``np.quantile(values, .3)``); TRE30 and SDlogJ30 the 0.7 quantile, as the
  script's evaluation 2.0 computes them (earlier versions took 0.3 for every metric).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from regbench.measuring import regions
from regbench.measuring.metrics import ArrayOrTensor, dice_per_label, log_std

CROP = 2  # voxels dropped from every side of the Jacobian
SHIFT = 3.0  # added to det J before the logarithm
ROBUST_QUANTILE = 0.3  # the robust aggregate over pairs of Dice and HD95 ("30": the worst 30 % of Dice)
# ... and of TRE and SDlogJ in the challenge's evaluation 2.0, the 0.7 quantile: their worst 30 %, lower being better
ROBUST_QUANTILE_LOWER_BETTER = 0.7


def warp_labels(seg: np.ndarray, displacement: np.ndarray, device: str = "cpu") -> np.ndarray:
    """``seg`` pulled back through ``displacement`` (ndim, *spatial), voxel units, as the
    challenge warps label maps (equal to its ``map_coordinates(order=0)``), on ``device``."""
    from regbench.measuring import warp  # noqa: PLC0415 - torch, only when labels are warped

    return warp.warp_labels(seg, displacement, rule="learn2reg", device=device)


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
    label absent from the fixed or the original moving map, infinite for one the warp lost.
    Labels are measured in their joint bounding box, side by side on the run's threads."""
    from surface_distance import compute_robust_hausdorff  # noqa: PLC0415

    if len(spacing) != fixed_seg.ndim:
        raise ValueError(f"spacing {tuple(spacing)} does not match {fixed_seg.ndim}D label maps")
    scored = _scored(fixed_seg, moving_seg, labels)
    in_fixed, in_warped = regions.boxes(fixed_seg, labels), regions.boxes(warped_seg, labels)

    def measure(index: int) -> float:
        if not scored[index]:
            return np.nan
        if in_warped[index] is None:
            # What surface-distance returns for an empty prediction; computed here because
            # its release reaches for np.Inf on that path, which NumPy 2 removed.
            return np.inf
        box = regions.union(in_fixed[index], in_warped[index])
        label = labels[index]
        return compute_robust_hausdorff(surface_distances(fixed_seg[box] == label, warped_seg[box] == label,
                                                          spacing), 95.0)

    return np.array(regions.per_label(measure, len(labels)), dtype=float)


@functools.cache
def _surface_elements(spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, int]:
    """surface-distance's neighbour-code kernel, the area (3D) or length (2D) of each code's
    surface element at ``spacing``, and the code of a voxel whose neighbours are all inside."""
    with warnings.catch_warnings():  # it imports from scipy.ndimage's deprecated submodules
        warnings.simplefilter("ignore", DeprecationWarning)
        from surface_distance import lookup_tables  # noqa: PLC0415

    if len(spacing) == 3:
        return (lookup_tables.ENCODE_NEIGHBOURHOOD_3D_KERNEL,
                lookup_tables.create_table_neighbour_code_to_surface_area(spacing), 0b11111111)
    return (lookup_tables.ENCODE_NEIGHBOURHOOD_2D_KERNEL,
            lookup_tables.create_table_neighbour_code_to_contour_length(spacing), 0b1111)


def surface_distances(mask_gt: np.ndarray, mask_pred: np.ndarray, spacing: Sequence[float]) -> dict[str, np.ndarray]:
    """surface-distance's ``compute_surface_distances`` for two non-empty masks already
    cropped to their joint bounding box: its surface elements (the neighbour codes of
    the voxel-corner grid, their areas from its tables) and, from each element, the
    distance to the nearest element of the other surface, sorted as it sorts them (by
    distance, then area). Equal to the library's result (tested); its distance transforms
    of the whole box are a k-d tree of the elements here, its element table is built once
    per spacing rather than per label, and numpy sorts rather than Python's ``sorted``:
    a quarter of the library's time on a 3D brain, and without its GIL-bound half."""
    kernel, element_size, full = _surface_elements(tuple(float(step) for step in spacing))
    borders, sizes = [], []
    for mask in (mask_gt, mask_pred):
        padded = np.zeros(np.add(mask.shape, 1), np.uint8)  # one empty voxel past the upper end, as it crops
        padded[tuple(slice(0, n) for n in mask.shape)] = mask
        code = ndimage.correlate(padded, kernel, mode="constant", cval=0)
        border = (code != 0) & (code != full)
        borders.append(border)
        sizes.append(element_size[code[border]])
    result = {}
    for source, target, name in ((0, 1, "gt"), (1, 0, "pred")):
        distances = regions.distances_to(borders[target], borders[source], spacing)
        order = np.lexsort((sizes[source], distances))
        other = "pred" if name == "gt" else "gt"
        result[f"distances_{name}_to_{other}"] = distances[order]
        result[f"surfel_areas_{name}"] = sizes[source][order]
    return result


def cropped_jacobian(jacobian: ArrayOrTensor) -> ArrayOrTensor:
    """det J without the outer :data:`CROP` voxels of every side, where the challenge's zero
    padding would bias the central differences (inside them, central differences with
    zero padding equal ``np.gradient``'s, which :func:`regbench.measuring.metrics.jacobian_determinant` uses)."""
    return jacobian[(slice(CROP, -CROP),) * jacobian.ndim]


def sd_log_jacobian(jacobian: ArrayOrTensor) -> float:
    """``std(log(clip(det J + 3, 1e-9, 1e9)))`` over the cropped ``jacobian`` of the whole
    field (numpy or torch, summarised where it lives); NaN when cropping leaves no voxel."""
    inner = cropped_jacobian(jacobian)
    if 0 in inner.shape:
        return float("nan")
    return log_std(inner, SHIFT)


def tre(displacement: np.ndarray, fixed_points: np.ndarray, moving_points: np.ndarray,
        spacing: Sequence[float]) -> np.ndarray:
    """The TRE of each landmark in mm as the challenge's ``compute_tre`` measures it: the
    field (in float64, as it reads fields) sampled at the fixed points by
    ``map_coordinates``' default cubic spline, 0 outside the image."""
    coordinates = np.asarray(fixed_points, dtype=np.float64).T
    sampled = np.stack([ndimage.map_coordinates(np.asarray(component, dtype=np.float64), coordinates)
                        for component in displacement], axis=1)
    carried = np.asarray(fixed_points, dtype=np.float64) + sampled
    return np.linalg.norm((carried - moving_points) * np.asarray(spacing, dtype=np.float64), axis=1)
