"""An independent re-statement of Liu et al.'s non-diffeomorphic volume (IJCV 2024; the
authors' code: github.com/yihao6/digital_diffeomorphism, and the copy LUMIR's
evaluation imports: JHU-MedImage-Reg/LUMIR_L2R, L2R_LUMIR_Eval/digital_diffeomorphism.py),
written geometrically and slowly: every simplex is a list of vertex offsets, deformed
by ``phi(p) = p + u(p)``, and its Jacobian is the determinant of its deformed edge
vectors over that of its reference ones (``np.linalg.det`` on one small matrix per
simplex and voxel). It shares no code with regbench; the oracle for
:mod:`regbench.measuring.diffeomorphism`.

Border rules: ``"crop"`` scores the voxels whose every neighbour exists (LUMIR's
script: ``[1:-1]`` on every axis); ``"replicate"`` pads the displacement by one voxel
with its edge values first and scores every voxel (the authors' current package).
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def simplices(ndim: int) -> dict[str, list[tuple[int, ...]]]:
    """Each simplex at a voxel as the offsets of its vertices from the voxel, first vertex
    the voxel itself: the corner ones (one neighbour per axis, forward or backward) and,
    in 3D, the middle tetrahedra of the 5-tetrahedra splits of the two cubes that have
    the voxel and (∓1, ∓1, ∓1) as opposite corners."""
    unit = np.eye(ndim, dtype=int)
    result = {}
    for signs in itertools.product((1, -1), repeat=ndim):
        key = "".join("+" if s > 0 else "-" for s in signs)
        result[key] = [(0,) * ndim] + [tuple(s * unit[k]) for k, s in enumerate(signs)]
    if ndim == 3:
        result["j1*"] = [(0, 0, 0), (-1, -1, 0), (-1, 0, -1), (0, -1, -1)]
        result["j2*"] = [(0, 0, 0), (1, 1, 0), (0, 1, 1), (1, 0, 1)]
    return result


def _scored_grid(displacement: np.ndarray, border: str) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """The displacement the simplices read (padded for "replicate") and the scored voxels
    as indices into it."""
    u = np.asarray(displacement, dtype=np.float64)
    if border == "replicate":
        u = np.pad(u, [(0, 0)] + [(1, 1)] * (u.ndim - 1), mode="edge")
    elif border != "crop":
        raise ValueError(border)
    voxels = list(itertools.product(*(range(1, n - 1) for n in u.shape[1:])))
    return u, voxels


def jacobians(displacement: np.ndarray, border: str = "crop") -> dict[str, np.ndarray]:
    """Per simplex key, the signed volume ratio deformed / reference of that simplex at
    every scored voxel (an array over the scored region)."""
    u, voxels = _scored_grid(displacement, border)
    ndim = u.shape[0]
    shape = tuple(n - 2 for n in u.shape[1:])
    out = {}
    for key, offsets in simplices(ndim).items():
        reference = np.array(offsets[1:], dtype=float) - np.array(offsets[0], dtype=float)
        reference_det = np.linalg.det(reference)
        values = np.empty(shape)
        for voxel in voxels:
            vertices = []
            for offset in offsets:
                point = tuple(v + o for v, o in zip(voxel, offset))
                vertices.append(np.array(point, dtype=float) + u[(slice(None),) + point])
            edges = np.array(vertices[1:]) - vertices[0]
            values[tuple(v - 1 for v in voxel)] = np.linalg.det(edges) / reference_det
        out[key] = values
    return out


def reference_volumes(ndim: int) -> dict[str, float]:
    """The undeformed volume of each simplex, from its vertices."""
    return {key: abs(np.linalg.det(np.array(offsets[1:], dtype=float))) / math.factorial(ndim)
            for key, offsets in simplices(ndim).items()}


def central_difference_jacobian(displacement: np.ndarray, border: str = "crop") -> np.ndarray:
    """det of the central-difference Jacobian of ``x + u(x)`` over the scored voxels
    (``np.gradient`` is the central difference inside)."""
    u, _ = _scored_grid(displacement, border)
    ndim = u.shape[0]
    grid = np.stack(np.meshgrid(*(np.arange(n, dtype=float) for n in u.shape[1:]), indexing="ij"))
    phi = grid + u
    matrix = np.empty(u.shape[1:] + (ndim, ndim))
    for c in range(ndim):
        for k in range(ndim):
            matrix[..., c, k] = np.gradient(phi[c], axis=k)
    return np.linalg.det(matrix)[(slice(1, -1),) * ndim]


def ndv(displacement: np.ndarray, mask: np.ndarray | None = None, border: str = "crop") -> dict[str, float]:
    """``volume`` (voxel units), ``percent``, ``voxels`` (central det <= 0) and ``scored``:
    for every scored voxel and every simplex, half (each cell is split twice) the volume
    of the simplex that the deformation turns inside out."""
    u = np.asarray(displacement, dtype=np.float64)
    ndim = u.shape[0]
    weight = np.ones(u.shape[1:]) if mask is None else (np.asarray(mask) != 0).astype(float)
    if border == "crop":
        weight = weight[(slice(1, -1),) * ndim]
    dets = jacobians(u, border)
    sizes = reference_volumes(ndim)
    volume = 0.0
    for key, det in dets.items():
        inverted = np.where(det < 0, -det * sizes[key], 0.0)  # the deformed simplex's |negative volume|
        volume += 0.5 * float((inverted * weight).sum())
    central = central_difference_jacobian(u, border)
    scored = float(weight.sum())
    return {
        "volume": volume,
        "percent": 100.0 * volume / scored,
        "voxels": int(((central <= 0) * weight).sum()),
        "scored": int(scored),
    }
