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


def invert_field(field: np.ndarray, iterations: int = 100, tolerance: float = 1e-6) -> np.ndarray:
    """The inverse of the pull-back field ``field``: the ``v`` with ``v(x) + field(x + v(x)) = 0``,
    so that warping by ``field`` and then by ``v`` is the identity. Data made by warping a
    template with ``field`` correspond to the template through ``v``: ``v`` is the true
    field of registering the made image onto the template.

    Found by the fixed-point iteration ``v <- -field(x + v)`` (``field`` linearly
    interpolated, its border values extended), which converges for fields whose
    Jacobian stays near the identity (|grad field| < 1), as random smooth fields and
    small affines do; stops when no voxel moves by more than ``tolerance`` voxels. A
    field that does not converge is a ValueError.
    """
    field = np.asarray(field, dtype=np.float64)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in field.shape[1:]], indexing="ij"))
    inverse = -field
    for _ in range(iterations):
        points = grid + inverse
        updated = -np.stack([ndimage.map_coordinates(component, points, order=1, mode="nearest")
                             for component in field])
        change = np.abs(updated - inverse).max()
        inverse = updated
        if change < tolerance:
            return inverse
    raise ValueError(f"the field could not be inverted: still changing by {change:.3g} voxels after {iterations} "
                     f"iterations (is it folding?)")
