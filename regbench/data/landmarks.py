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

LANDMARK_SPACES = ("voxel", "world")


def _rows(path: Path) -> list[list[str]]:
    """The file's non-empty rows, split at commas, a header line of names left out."""
    with require_file(path, "landmark file").open(newline="") as handle:
        rows = [[cell.strip() for cell in row] for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if rows and not _is_number(rows[0][0]):
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

    ``space``: ``"voxel"`` (as stored) or ``"world"`` (mm, converted with the inverse of
    ``affine``, the image's voxel-to-world matrix). Points must lie within the image
    (``-0.5`` to ``size - 0.5`` along each axis, ``shape`` being the image's shape as
    stored). A DataError naming the file and the row otherwise.
    """
    if space not in LANDMARK_SPACES:
        raise DataError(f"landmark space must be one of {', '.join(LANDMARK_SPACES)}, got {space!r}")
    ndim = len(shape)
    rows = _rows(path)
    if not rows:
        raise DataError(f"{path} holds no landmarks; expected one point per line, {ndim} comma-separated coordinates")
    points = np.empty((len(rows), ndim))
    for number, row in enumerate(rows):
        if len(row) != ndim:
            raise DataError(f"{path}, point {number + 1}: {len(row)} column(s) ({','.join(row)}); expected {ndim} "
                            f"comma-separated coordinates, one per image axis")
        try:
            points[number] = [float(cell) for cell in row]
        except ValueError:
            raise DataError(f"{path}, point {number + 1}: {','.join(row)!r} is not {ndim} numbers") from None
    if not np.isfinite(points).all():
        raise DataError(f"{path} holds NaN or infinite coordinates")
    if space == "world":
        if affine is None:
            raise DataError(f"{path}: world coordinates need the image's affine, which is unknown")
        square = np.eye(ndim + 1)
        square[:ndim, :ndim], square[:ndim, ndim] = affine[:ndim, :ndim], affine[:ndim, 3]
        points = (np.linalg.inv(square) @ np.c_[points, np.ones(len(points))].T).T[:, :ndim]
    outside = ((points < -0.5) | (points > np.asarray(shape) - 0.5)).any(axis=1)
    if outside.any():
        row = int(np.argmax(outside))
        raise DataError(f"{path}, point {row + 1}: {tuple(points[row].round(3).tolist())} (voxels) lies outside the "
                        f"image of shape {shape}; expected {space} coordinates within the image")
    return points
