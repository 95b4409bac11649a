"""Landmark files: the points of one image, one per row, for TRE.

The layout is Learn2Reg's (its lung tasks' ``keypointsTr/*.csv``): a CSV file without
a header, one point per line, one coordinate per image axis, in voxels along the
image's array axes, as nibabel reads the array; row ``i`` of two images' files is one
anatomical point. A first line of column names is allowed. Points given in world
coordinates (millimetres, in the space of the image's NIfTI affine) are converted to
voxels once, when read. Every problem is a :class:`DataError` naming the file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from regbench.data.errors import DataError, require_file
from regbench.plugin.dataset import first_outside

LANDMARK_SPACES = ("voxel", "world")


def _rows(path: Path) -> list[list[str]]:
    """The file's non-empty rows, split at commas; a first line holding no number is a
    header of names, left out (a byte-order mark is no name: it is dropped first)."""
    with require_file(path, "landmark file").open(newline="", encoding="utf-8-sig") as handle:
        rows = [[cell.strip() for cell in row] for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if rows and not any(_is_number(cell) for cell in rows[0]):
        rows = rows[1:]  # column names
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_landmarks(path: Path, shape: tuple[int, ...], affine: np.ndarray | None = None,
                   space: str = "voxel") -> np.ndarray:
    """The points in ``path`` as float64 voxel coordinates, shape ``(N, len(shape))``.

    ``space``: ``"voxel"`` (as stored, one column per image axis) or ``"world"`` (mm, 3
    columns, converted with the inverse of ``affine``, the image's 4×4 voxel-to-world
    matrix; a 2D image's points must lie in its slice). Points must lie within the image
    (``-0.5`` to ``size - 0.5`` along each axis, ``shape`` being the image's shape as
    stored). A DataError naming the file and the row otherwise.
    """
    if space not in LANDMARK_SPACES:
        raise DataError(f"landmark space must be one of {', '.join(LANDMARK_SPACES)}, got {space!r}")
    ndim = len(shape)
    columns = 3 if space == "world" else ndim  # NIfTI's world has 3 axes, a 2D image's too
    rows = _rows(path)
    if not rows:
        raise DataError(f"{path} holds no landmarks; expected one point per line, {columns} comma-separated "
                        f"coordinates")
    points = np.empty((len(rows), columns))
    for number, row in enumerate(rows):
        if len(row) != columns:
            raise DataError(f"{path}, point {number + 1}: {len(row)} column(s) ({','.join(row)}); expected {columns} "
                            f"comma-separated coordinates, one per {'world' if space == 'world' else 'image'} axis")
        try:
            points[number] = [float(cell) for cell in row]
        except ValueError:
            raise DataError(f"{path}, point {number + 1}: {','.join(row)!r} is not {columns} numbers") from None
    if not np.isfinite(points).all():
        raise DataError(f"{path} holds NaN or infinite coordinates")
    if space == "world":
        points = _world_to_voxels(points, affine, ndim, path)
    row = first_outside(points, shape)
    if row is not None:
        raise DataError(f"{path}, point {row + 1}: {tuple(points[row].round(3).tolist())} (voxels) lies outside the "
                        f"image of shape {shape}; expected {space} coordinates within the image")
    return points


def _world_to_voxels(points: np.ndarray, affine: np.ndarray | None, ndim: int, path: Path) -> np.ndarray:
    """World points (mm, 3 coordinates) as voxel coordinates along the image's ``ndim``
    axes, through the inverse of its 4×4 affine; a 2D image is a slice of that world
    (its third voxel axis, of size 1), so a point must lie in it (within half a voxel)."""
    if affine is None:
        raise DataError(f"{path}: world coordinates need the image's affine, which is unknown")
    try:
        inverse = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    except np.linalg.LinAlgError:
        raise DataError(f"{path}: the image's affine is singular, so world coordinates cannot be converted to "
                        f"voxels; give voxel coordinates instead") from None
    voxels = (inverse @ np.c_[points, np.ones(len(points))].T).T[:, :3]
    off_slice = np.abs(voxels[:, ndim:]).max(axis=1) > 0.5 if ndim < 3 else np.zeros(len(voxels), dtype=bool)
    if off_slice.any():
        row = int(np.argmax(off_slice))
        raise DataError(f"{path}, point {row + 1}: {tuple(points[row].round(3).tolist())} (mm) lies "
                        f"{float(np.abs(voxels[row, ndim:]).max()):.3g} voxels off the plane of the {ndim}D image; "
                        f"expected points in its slice")
    return voxels[:, :ndim]
