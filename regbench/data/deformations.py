"""Random deformations for making data: smooth non-linear fields and small affines.

The embedded and synthetic datasets build their subjects with these, and tests use
them as realistic fields. Fields follow the warping convention of
:mod:`regbench.measuring.warp`: shape ``(ndim, *spatial)``, voxel units, pull-back.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation


def random_smooth_field(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    max_displacement: float,
    control_spacing: int = 16,
) -> np.ndarray:
    """A smooth random field whose largest component magnitude is ``max_displacement``.

    Gaussian noise on a coarse grid (one control point every ``control_spacing``
    voxels) is upsampled with cubic splines, which keeps the field smooth and cheap.
    """
    coarse = tuple(max(2, -(-n // control_spacing) + 1) for n in shape)
    components = []
    for _ in shape:
        noise = rng.standard_normal(coarse)
        components.append(ndimage.zoom(noise, [n / c for n, c in zip(shape, coarse)], order=3, grid_mode=True, mode="nearest"))
    field = np.stack(components)
    peak = np.abs(field).max()
    return (field * (max_displacement / peak if peak > 0 else 0.0)).astype(np.float32)


def random_affine_field(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    max_rotation_deg: float,
    max_scaling: float,
    max_translation: float,
) -> np.ndarray:
    """The dense field of a random affine about the image centre.

    Rotation angle(s) in ±``max_rotation_deg``, per-axis scaling in
    1 ± ``max_scaling``, translation in ±``max_translation`` voxels.
    """
    ndim = len(shape)
    if ndim == 2:
        angle = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg))
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    else:
        angles = rng.uniform(-max_rotation_deg, max_rotation_deg, size=3)
        rotation = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    matrix = rotation @ np.diag(1 + rng.uniform(-max_scaling, max_scaling, size=ndim))
    translation = rng.uniform(-max_translation, max_translation, size=ndim)
    centre = (np.asarray(shape) - 1) / 2
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")).reshape(ndim, -1)
    target = matrix @ (grid - centre[:, None]) + (centre + translation)[:, None]
    return (target - grid).reshape(ndim, *shape).astype(np.float32)


def invert_field(field: np.ndarray, iterations: int = 50, tolerance: float = 1e-3) -> np.ndarray:
    """The inverse of the pull-back field ``field``: the ``v`` with ``v(x) + field(x + v(x)) = 0``,
    so that warping by ``field`` and then by ``v`` is the identity. Data made by warping a
    template with ``field`` correspond to the template through ``v``: ``v`` is the true
    field of registering the made image onto the template.

    Found by Newton's method on the residual ``r(v) = v + field(x + v)`` at every voxel
    (``field`` and its central-difference Jacobian linearly interpolated, border values
    extended), which converges for any field that does not fold, also where it
    compresses strongly (a plain fixed-point iteration does not); it stops when
    ``|r|`` is below ``tolerance`` voxels everywhere. A field that folds (det J <= 0
    somewhere: no inverse), or one it cannot invert so, is a ValueError.
    """
    field = np.asarray(field, dtype=np.float64)
    ndim = field.shape[0]
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in field.shape[1:]], indexing="ij"))
    jacobian = np.stack([np.stack(np.gradient(component)) if ndim > 1 else np.gradient(component)[None]
                         for component in field])  # [i, j] = d field_i / d x_j

    def at(values: np.ndarray, points: np.ndarray) -> np.ndarray:
        return np.stack([ndimage.map_coordinates(value, points, order=1, mode="nearest") for value in values])

    folded = int((np.linalg.det(np.moveaxis(jacobian, (0, 1), (-2, -1)) + np.eye(ndim)) <= 0).sum())
    if folded:
        raise ValueError(f"the field folds at {folded} voxel(s) (det J <= 0): no inverse")
    inverse = -field
    for _ in range(iterations):
        points = grid + inverse
        residual = inverse + at(field, points)
        if np.abs(residual).max() < tolerance:
            return inverse
        slope = at(jacobian.reshape(ndim * ndim, *field.shape[1:]), points).reshape(jacobian.shape)
        slope = np.moveaxis(slope, (0, 1), (-2, -1)) + np.eye(ndim)
        try:
            step = np.linalg.solve(slope, np.moveaxis(residual, 0, -1)[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break  # a singular Jacobian: the field folds there
        inverse = inverse - np.moveaxis(step, -1, 0)
    residual = np.abs(inverse + at(field, grid + inverse)).max()
    if residual < tolerance:
        return inverse
    raise ValueError(f"the field could not be inverted: |v + field(x + v)| is still {residual:.3g} voxels after "
                     f"{iterations} Newton steps (does it fold?)")
