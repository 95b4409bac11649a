"""Where each label lies, so that per-label work reads only the label's box; distances
between surfaces without a distance transform of the box; and per-label work spread
over threads.

A 3D brain has tens of labels, each a few percent of the volume: finding each label's
mask in the whole volume costs more than measuring it. :func:`boxes` finds every
label's bounding box in one pass over a map (``scipy.ndimage.find_objects``).
:func:`distances_to` gives what a Euclidean distance transform of one surface reads at
the points of another, from a k-d tree of the surface points: a fraction of the time of
transforming the box. :func:`per_label` runs a function of each label on the run's CPU
threads (scipy releases the GIL in both, so threads share the work).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

Box = tuple[slice, ...]
T = TypeVar("T")


def boxes(seg: np.ndarray, labels: Sequence[int]) -> list[Box | None]:
    """The bounding box of each of ``labels`` in ``seg``; None for a label absent from it."""
    top = max(labels, default=0)
    found = ndimage.find_objects(np.asarray(seg), max_label=top) if top > 0 else []
    return [found[label - 1] if 0 < label <= len(found) else None for label in labels]


def union(first: Box, second: Box, margin: int = 0) -> Box:
    """The box around both, grown by ``margin`` voxels on every side (cut at the lower edge;
    slicing cuts the upper one)."""
    return tuple(slice(max(min(a.start, b.start) - margin, 0), max(a.stop, b.stop) + margin)
                 for a, b in zip(first, second, strict=True))


def distances_to(targets: np.ndarray, points: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """``distance_transform_edt(~targets, sampling=spacing)[points]``: the distance from each
    voxel of the mask ``points`` to the nearest voxel of the mask ``targets`` (not empty),
    in the units of ``spacing``, without transforming the whole box: a point on a target
    is 0 away, the others ask a k-d tree of the targets."""
    distances = np.zeros(np.count_nonzero(points))
    away = ~targets[points]
    if away.any():
        scale = np.asarray(spacing, dtype=float)
        tree = cKDTree(np.argwhere(targets) * scale, balanced_tree=False)  # unbalanced: built in half the time
        distances[away] = tree.query(np.argwhere(points)[away] * scale)[0]
    return distances


def per_label(function: Callable[[int], T], count: int, threads: int | None = None) -> list[T]:
    """``[function(0), ..., function(count - 1)]``, on ``threads`` threads (default: the
    number torch's CPU work uses here, which ``--threads`` sets)."""
    if threads is None:
        from regbench.measuring.devices import cpu_threads  # noqa: PLC0415 - torch

        threads = cpu_threads()
    if threads <= 1 or count <= 1:
        return [function(index) for index in range(count)]
    with ThreadPoolExecutor(min(threads, count)) as pool:
        return list(pool.map(function, range(count)))
