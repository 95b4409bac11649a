"""A registered pair that meets every scoring rule, for the scoring tests and
``benchmarks/scoring_speed.py``: a Voronoi parcellation of an ellipsoid (labels 1..n),
the moving map a smooth deformation of it without its last label (a label absent from
the original moving map), and a field that folds in places, reaches past the borders
and (unless asked not to) holds exact half-voxel displacements in a slab (ties of
nearest-neighbour rounding).

Run as a script, it writes every installed metric's values on the 2D and 3D pairs of
:data:`FIXTURE_CASES` to an ``.npz``: ``tests/support/data/scores_before_fast_scoring.npz`` was
written so by the scoring code before it was made fast (commit a9cf57a), and
``test_scoring.py`` holds today's values to it.

    python tests/support/scoring_pair.py OUT.npz
"""

from __future__ import annotations

import sys

import numpy as np
from scipy import ndimage

from regbench.data.deformations import random_smooth_field
from regbench.plugin.dataset import Subject
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.metric import PairOutcome

# (shape, labels, spacing, exact half-voxel ties): small, so a test scores them in a second.
FIXTURE_CASES = {"2d": ((48, 56), 9, (1.0, 1.5), True), "3d": ((28, 32, 24), 12, (1.0, 1.2, 0.9), True),
                 "3d-no-ties": ((28, 32, 24), 12, (1.0, 1.2, 0.9), False)}


def parcellation(shape: tuple[int, ...], n_labels: int, rng: np.random.Generator) -> np.ndarray:
    """Labels 1..n_labels: the nearest of ``n_labels`` random seed voxels, inside an ellipsoid."""
    centre = (np.asarray(shape) - 1) / 2
    grid = np.indices(shape, dtype=np.float32)
    inside = sum(((g - c) / (0.42 * n)) ** 2 for g, c, n in zip(grid, centre, shape, strict=True)) <= 1
    seeds = np.zeros(shape, np.int32)
    candidates = np.argwhere(inside)
    for label, index in enumerate(rng.choice(len(candidates), n_labels, replace=False), start=1):
        seeds[tuple(candidates[index])] = label
    _, nearest = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    return np.where(inside, seeds[tuple(nearest)], 0).astype(np.int32)


def make_pair(shape: tuple[int, ...], n_labels: int, seed: int = 0,
              ties: bool = True) -> tuple[Subject, Subject, np.ndarray]:
    """The fixed and moving subjects and the field (float32, as methods return one)."""
    rng = np.random.default_rng(seed)
    fixed_seg = parcellation(shape, n_labels, rng)
    coordinates = np.indices(shape, dtype=np.float64) + random_smooth_field(shape, rng, 3.0, control_spacing=8)
    moving_seg = ndimage.map_coordinates(fixed_seg, coordinates, order=0)
    moving_seg[moving_seg == n_labels] = 0

    def image(seg: np.ndarray) -> np.ndarray:
        return (ndimage.gaussian_filter(seg.astype(np.float32), 1.0) / n_labels).astype(np.float32)

    field = random_smooth_field(shape, rng, 5.0, control_spacing=3)
    if ties:
        slab = (slice(None), slice(0, max(shape[0] // 4, 1)))
        field[slab] = np.round(field[slab] * 2) / 2
    return Subject("fixed", image(fixed_seg), fixed_seg), Subject("moving", image(moving_seg), moving_seg), field


def outcome(case: str, **options: object) -> PairOutcome:
    """One of :data:`FIXTURE_CASES` as the harness scores it."""
    shape, n_labels, spacing, ties = FIXTURE_CASES[case]
    fixed, moving, field = make_pair(shape, n_labels, ties=ties)
    return PairOutcome(fixed=fixed, moving=moving, displacement=field,
                       labels={label: f"label {label}" for label in range(1, n_labels + 1)}, spacing=spacing,
                       **options)


def scores(pair: PairOutcome) -> dict[str, np.ndarray]:
    """Every installed metric's values on ``pair`` (of those that apply to it), by column."""
    values = {}
    for entry in collect(plugin_manager([])).metrics.entries():
        if entry.installed and (metric := entry.cls()).applies_to(pair):
            values.update({key: np.asarray(value, dtype=float) for key, value in metric.compute(pair).items()})
    return values


if __name__ == "__main__":
    np.savez(sys.argv[1], **{f"{case}/{key}": value for case in FIXTURE_CASES
                             for key, value in scores(outcome(case)).items()})
