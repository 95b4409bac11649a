"""Known motions: image pairs whose right field is known, for the conformance kit.

A moving image is the fixed one with its content moved by a known affine map, so the
field that registers it is known exactly: regbench's fields pull back (``warped(x) =
moving(x + u(x))``), so if the content at ``x`` in the fixed image lies at ``M(x)`` in
the moving one, the answer is ``u(x) = M(x) - x``, component ``i`` along array axis
``i``. The two mistakes plugin authors make most often give a field that registers
nothing and still looks like a field: the push-forward (``-u``) and the components in
ITK's ``(x, y, z)`` order (``u[::-1]``). :func:`verdict` tells which of these a field
matches.

The verdict is by distance, every axis counting alike: a field is right when it is near
the right answer, clearly nearer to it than to any mistake, and recovers at least a
quarter of each axis's motion the right way (so a negated component, or one left at
zero, fails too); a mistake is named only on the same evidence the other way round;
anything between fails without an accusation. The shifts differ along every axis, so
two components swapped (``np.meshgrid`` without ``indexing="ij"``) lie far from the
right answer as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from regbench.plugin.dataset import Dataset, Subject

SHIFTS = {2: (2.4, 1.0), 3: (2.0, 0.75, -1.25)}  # voxels, along array axes 0, 1(, 2)
SCALES = {2: (1.08, 0.94), 3: (1.06, 0.95, 1.04)}  # anisotropic, about the image centre
NEAR = 0.85  # a field this near a candidate (see Verdict.distances) follows it...
MARGIN = 0.2  # ... when it is nearer to it than to any other by this much
MIN_SHARE = 0.25  # the least share of its own motion each component must recover, the right way


@dataclass(frozen=True)
class KnownMotion:
    """One case: ``moving`` is ``fixed`` with its content moved by ``scale`` about the
    centre, then by ``shift``; ``answer`` is the field that registers it, ``(ndim, *shape)``."""

    name: str
    shift: tuple[float, ...]
    scale: tuple[float, ...]
    fixed: np.ndarray
    moving: np.ndarray
    answer: np.ndarray

    @property
    def description(self) -> str:
        shift = f"a shift by {self.shift} voxels along the array axes"
        return shift if set(self.scale) == {1.0} else f"{shift} after scaling by {self.scale} about the centre"


def _object(shape: tuple[int, ...]) -> np.ndarray:
    """A textured object on a black background, as anatomy lies in a scan, in [0, 1]:
    smooth random texture inside a soft-edged ellipse whose semi-axes are 0.3 of the image,
    so that it stays inside the image after every motion."""
    noise = np.random.default_rng(0).standard_normal(shape)
    texture = ndimage.gaussian_filter(noise, min(shape) / 8)
    texture = 0.4 + 0.6 * (texture - texture.min()) / (texture.max() - texture.min())
    centre = (np.asarray(shape) - 1) / 2
    radius = np.sqrt(sum(((axis - c) / (0.3 * n)) ** 2 for axis, c, n in zip(np.indices(shape), centre, shape)))
    image = texture / (1 + np.exp((radius - 1) / 0.05))
    return (image / image.max()).astype(np.float32)


def _moved(image: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``image`` after its content moved by ``M(x) = c + scale (x - c) + shift`` (``c``:
    the centre): the output at ``y`` is the image at ``M⁻¹(y)``."""
    centre = (np.asarray(image.shape) - 1) / 2
    return ndimage.affine_transform(image, np.diag(1 / scale), offset=centre - (centre + shift) / scale,
                                    order=3).astype(np.float32)


def known_motions(shape: tuple[int, ...]) -> tuple[KnownMotion, ...]:
    """A shift, and a shift with anisotropic scaling, of a textured object in an image of ``shape``."""
    ndim = len(shape)
    fixed = _object(shape)
    grid = np.indices(shape, dtype=np.float64) - ((np.asarray(shape) - 1) / 2).reshape(-1, *[1] * ndim)
    cases = []
    for name, scale in (("shift", (1.0,) * ndim), ("shift-and-scale", SCALES[ndim])):
        shift, factors = np.asarray(SHIFTS[ndim]), np.asarray(scale)
        answer = (factors - 1).reshape(-1, *[1] * ndim) * grid + shift.reshape(-1, *[1] * ndim)
        cases.append(KnownMotion(name, SHIFTS[ndim], tuple(scale), fixed, _moved(fixed, shift, factors),
                                 answer.astype(np.float32)))
    return tuple(cases)


class KnownMotionDataset(Dataset):
    """The known motions as a dataset, so that a learning method can learn them the way
    it learns any dataset: the fixed image is the atlas, and each case is a test subject
    and, as copies, the training subjects (a network shows its convention once it has
    fitted the pairs it is asked about)."""

    name = "known-motion"
    default_options = {"shape": (32, 32), "copies": 4}
    atlas_id = "fixed"

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.cases = {case.name: case for case in known_motions(tuple(self.options["shape"]))}
        self._fixed = next(iter(self.cases.values())).fixed

    @property
    def labels(self) -> Mapping[int, str]:
        return {1: "bright texture"}

    @property
    def spacing(self) -> tuple[float, ...]:
        return (1.0,) * len(self.options["shape"])

    @property
    def train_ids(self) -> tuple[str, ...]:
        return tuple(f"{name}-{copy}" for name in self.cases for copy in range(self.options["copies"]))

    @property
    def test_ids(self) -> tuple[str, ...]:
        return tuple(self.cases)

    def load(self, subject_id: str) -> Subject:
        case = subject_id if subject_id in self.cases else subject_id.rsplit("-", 1)[0]  # a copy: CASE-N
        image = self._fixed if subject_id == self.atlas_id else self.cases[case].moving
        return Subject(subject_id, image.copy(), (image > 0.7).astype(np.int16))


@dataclass(frozen=True)
class Verdict:
    """How a field compares with a case's answer. ``distances``: from the field to each
    candidate (``right``, ``negated``, ``reversed``, ``negated and reversed``), the root
    mean square over the components of each component's distance relative to the
    answer's (every axis counts alike, however small its motion: 0 is the candidate
    exactly, 1 as far as no motion at all). ``shares``: how much of the right answer
    each component recovers (its projection onto the answer's component: 1 exactly,
    0 nothing, negative the wrong way). ``match``: the nearest candidate."""

    distances: Mapping[str, float]
    shares: tuple[float, ...]

    @property
    def match(self) -> str:
        return min(self.distances, key=self.distances.__getitem__)

    @property
    def distance(self) -> float:
        return self.distances[self.match]

    @property
    def follows(self) -> bool:
        """Whether the field follows its nearest candidate: within :data:`NEAR` of it, and
        nearer to it than to every other by :data:`MARGIN`."""
        others = [distance for name, distance in self.distances.items() if name != self.match]
        return self.distance <= NEAR and min(others) - self.distance >= MARGIN

    @property
    def right(self) -> bool:
        """Following the right answer, with every component recovering at least :data:`MIN_SHARE` of its own."""
        return self.follows and self.match == "right" and min(self.shares) >= MIN_SHARE

    @property
    def mistake(self) -> str | None:
        """The convention mistake the field follows, if any."""
        return self.match if self.follows and self.match != "right" else None


def verdict(field: np.ndarray, answer: np.ndarray, fixed: np.ndarray) -> Verdict:
    """How near ``field`` is to the answer, its negation, its reversed components and
    both, and how much of each component it recovers (see :class:`Verdict`), over the
    object of the ``fixed`` image (the background has no content to register, so any
    field is right there)."""
    inside = np.asarray(fixed) > 0.2
    found, right = np.asarray(field, np.float64)[:, inside], np.asarray(answer, np.float64)[:, inside]
    scale = np.sqrt(np.mean(right**2, axis=1))  # each component's size

    def distance(candidate: np.ndarray) -> float:
        return float(np.sqrt(np.mean((np.sqrt(np.mean((found - candidate) ** 2, axis=1)) / scale) ** 2)))

    candidates = {"right": right, "negated": -right, "reversed": right[::-1], "negated and reversed": -right[::-1]}
    shares = tuple(float(share) for share in np.sum(found * right, axis=1) / np.sum(right**2, axis=1))
    return Verdict({name: distance(candidate) for name, candidate in candidates.items()}, shares)
