"""How far a field is from the true correspondence, where some of it is known: at
landmarks (target registration error, TRE) and, for generated data, everywhere (the
end-point error against the true field). Distances are in mm (the voxel spacing
applied per axis). The common family's definitions; Learn2Reg's TRE samples the field
differently (:func:`regbench.measuring.learn2reg.tre`).

A field ``u`` pulls back: ``moving(x + u(x))`` corresponds to ``fixed(x)``. So a
fixed landmark ``f`` is carried to ``f + u(f)``, which should be its moving landmark
``m``; the TRE of the point is ``|f + u(f) - m|`` in mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

P95 = 95.0  # the percentile reported beside the mean


def sample_field(displacement: np.ndarray, points: np.ndarray, order: int = 1) -> np.ndarray:
    """``u`` at ``points`` (``(N, ndim)`` voxel coordinates), shape ``(N, ndim)``: each
    component interpolated with splines of ``order`` (1: linear); a point in the outer
    half voxel takes the border's value."""
    coordinates = np.asarray(points, dtype=np.float64).T
    return np.stack([ndimage.map_coordinates(np.asarray(component, dtype=np.float64), coordinates, order=order,
                                             mode="nearest") for component in displacement], axis=1)


def landmark_errors(displacement: np.ndarray, fixed_points: np.ndarray, moving_points: np.ndarray,
                    spacing: Sequence[float]) -> np.ndarray:
    """TRE of each landmark in mm: ``|f + u(f) - m|`` with ``u(f)`` linearly interpolated
    (as most papers sample a field between voxels)."""
    carried = np.asarray(fixed_points, dtype=np.float64) + sample_field(displacement, fixed_points)
    return np.linalg.norm((carried - moving_points) * np.asarray(spacing, dtype=np.float64), axis=1)


def endpoint_errors(displacement: np.ndarray, true_displacement: np.ndarray, spacing: Sequence[float],
                    mask: np.ndarray | None = None) -> np.ndarray:
    """``|u(x) - u_true(x)|`` in mm at every voxel ``x`` of ``mask`` (every voxel when
    None): how far the method's field sends each fixed voxel from where it truly
    corresponds, flattened."""
    scale = np.asarray(spacing, dtype=np.float64).reshape(-1, *([1] * (displacement.ndim - 1)))
    errors = np.linalg.norm((np.asarray(displacement, dtype=np.float64) - true_displacement) * scale, axis=0)
    return errors[mask] if mask is not None else errors.ravel()


def summary(errors: np.ndarray) -> tuple[float, float, float]:
    """Mean, standard deviation and 95th percentile of ``errors`` (NaN when empty)."""
    if not len(errors):
        return float("nan"), float("nan"), float("nan")
    return float(np.mean(errors)), float(np.std(errors)), float(np.percentile(errors, P95))
