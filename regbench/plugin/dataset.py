"""What a dataset is, to regbench.

A dataset names its subjects, splits them into train and test, chooses the atlas
(the fixed image of atlas-based registration, as in the reference paper) and loads
one subject at a time, so memory does not grow with the number of subjects.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from regbench.plugin.options import Range, Rule, inherited_rules, resolve


@dataclass(frozen=True)
class Subject:
    """One image with its label map.

    ``image``: float32, spatial shape ``(H, W)`` or ``(D, H, W)``.
    ``seg``: integer labels of the same shape, 0 is background; None when unlabelled.
    ``affine``: 4×4 voxel-to-world matrix (as NIfTI), used when results are saved as
    images; None lets the spacing stand in.
    ``landmarks``: points of this image, float, shape ``(N, ndim)``, in voxel coordinates
    along the image's array axes (as the image is loaded: after any crop or pad); row
    ``i`` of two subjects' landmarks is one anatomical point. None when it has none.
    """

    id: str
    image: np.ndarray
    seg: np.ndarray | None = None
    affine: np.ndarray | None = None
    landmarks: np.ndarray | None = None


def first_outside(points: np.ndarray, shape: tuple[int, ...]) -> int | None:
    """The row of the first of ``points`` (voxel coordinates) outside an image of
    ``shape``, whose extent runs from ``-0.5`` to ``size - 0.5`` along each axis; None
    when all lie within it."""
    outside = ((points < -0.5) | (points > np.asarray(shape) - 0.5)).any(axis=1)
    return int(np.argmax(outside)) if outside.any() else None


@dataclass(frozen=True)
class Landmarks:
    """A pair's corresponding points, in voxel coordinates along the array axes: row ``i``
    of ``fixed`` (``(N, ndim)``, in the fixed image) and row ``i`` of ``moving`` (in the
    moving image) are one anatomical point. Registration is right at a point when the
    field carries the fixed point onto the moving one: ``f + u(f) = m`` (pull-back)."""

    fixed: np.ndarray
    moving: np.ndarray

    def check(self, fixed_shape: tuple[int, ...], moving_shape: tuple[int, ...], where: str) -> Landmarks:
        """These landmarks as float64 arrays, checked: one point per row with a coordinate
        per axis, as many fixed points as moving ones, finite, within each image's extent
        (``-0.5`` to ``size - 0.5`` along each axis). A ValueError naming ``where`` otherwise."""
        checked = []
        for side, points, shape in (("fixed", self.fixed, fixed_shape), ("moving", self.moving, moving_shape)):
            points = np.asarray(points, dtype=np.float64)
            if points.ndim != 2 or points.shape[1] != len(shape) or not len(points):
                raise ValueError(f"{where}: {side} landmarks have shape {points.shape}; expected (N, {len(shape)}), "
                                 f"N >= 1: one point per row, one voxel coordinate per image axis")
            if not np.isfinite(points).all():
                raise ValueError(f"{where}: {side} landmarks hold NaN or infinite coordinates")
            row = first_outside(points, shape)
            if row is not None:
                raise ValueError(f"{where}: {side} landmark {row + 1} {tuple(points[row].round(3).tolist())} lies "
                                 f"outside the image (shape {shape}); expected voxel coordinates within it")
            checked.append(points)
        if len(checked[0]) != len(checked[1]):
            raise ValueError(f"{where}: {len(checked[0])} fixed landmarks but {len(checked[1])} moving ones; expected "
                             f"the same points in both images, row by row")
        return Landmarks(*checked)


PAIR_SEPARATOR = "->"  # a pair's id: MOVING->FIXED; no subject id may hold it


@dataclass(frozen=True)
class Pair:
    """A test pair: register ``moving_id`` onto ``fixed_id``."""

    fixed_id: str
    moving_id: str

    @property
    def id(self) -> str:
        return f"{self.moving_id}{PAIR_SEPARATOR}{self.fixed_id}"


class Dataset(abc.ABC):
    """A registration dataset.

    Subclasses set ``name``, ``description``, ``labels`` (id -> name, background
    excluded) and ``spacing``; declare their options with defaults in
    ``default_options``; and implement the split, the atlas and :meth:`load`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    default_options: ClassVar[Mapping[str, Any]] = {}
    option_rules: ClassVar[Mapping[str, Rule]] = {}  # valid values where the type is not enough (Range, Choices)

    def __init__(self, **options: Any) -> None:
        what = f"dataset {self.name!r}"
        rules = inherited_rules(what, type(self), "option_rules", self.default_options)
        self.options: dict[str, Any] = resolve(what, self.default_options, options, rules)

    @property
    @abc.abstractmethod
    def labels(self) -> Mapping[int, str]:
        """Label id -> name for the labels scored by Dice (background excluded)."""

    @property
    @abc.abstractmethod
    def spacing(self) -> tuple[float, ...]:
        """Voxel spacing in mm, one value per spatial axis."""

    @property
    @abc.abstractmethod
    def atlas_id(self) -> str | None:
        """The subject every moving image is registered to; None for pairwise datasets,
        which override :meth:`test_pairs` (learning methods then train on random pairs)."""

    @property
    @abc.abstractmethod
    def train_ids(self) -> tuple[str, ...]:
        """Subjects a learning method may train on."""

    @property
    @abc.abstractmethod
    def test_ids(self) -> tuple[str, ...]:
        """Subjects evaluated, each registered to the atlas."""

    @abc.abstractmethod
    def load(self, subject_id: str) -> Subject:
        """Load one subject (image and labels)."""

    def test_pairs(self) -> list[Pair]:
        """Atlas-based pairs: every test subject onto the atlas."""
        if self.atlas_id is None:
            raise ValueError(f"dataset {self.name!r} has no atlas, so it must list its test pairs (override test_pairs)")
        return [Pair(fixed_id=self.atlas_id, moving_id=sid) for sid in self.test_ids]

    def pair_landmarks(self, pair: Pair, fixed: Subject, moving: Subject) -> Landmarks | None:
        """The pair's corresponding points, for TRE. Default: the two subjects' own
        landmarks, row by row, when both carry them. A dataset whose points belong to a
        pair rather than to an image (or are made for it) overrides this; a file it reads
        must be among :meth:`subject_files` or :meth:`shared_files`, which key results."""
        if fixed.landmarks is None or moving.landmarks is None:
            return None
        return Landmarks(fixed.landmarks, moving.landmarks)

    def true_displacement(self, pair: Pair, fixed: Subject, moving: Subject) -> np.ndarray | None:
        """The pair's true field where the dataset knows it (data it generated by a known
        deformation): ``(ndim, *spatial)``, voxel units, pulling back like a method's
        field, so that ``moving(x + u(x))`` corresponds to ``fixed(x)``. Metrics score a
        method's field against it. Default: None (unknown, as for real images). Like
        :meth:`pair_landmarks`, it reads no file that the file methods do not name."""
        return None

    @classmethod
    def code_modules(cls) -> tuple[str, ...]:
        """Modules whose source decides this dataset's subjects, landmarks and true fields:
        by default those that define the class and its bases. Stored results and trained
        weights are keyed by them (with what they import), so a changed generator or reader
        recomputes what it decides."""
        return tuple(dict.fromkeys(k.__module__ for k in cls.__mro__ if k.__module__ not in ("builtins", "abc")))

    def subject_files(self, subject_id: str) -> tuple[Path, ...]:
        """The files :meth:`load` reads for ``subject_id``. regbench keys every stored
        result and trained network by their content, so a file changed in place
        recomputes exactly what read it. Default: none (a subject made from the options)."""
        return ()

    def shared_files(self) -> tuple[Path, ...]:
        """Files every subject depends on (label tables, pair lists, a template the
        subjects are made from), keyed like :meth:`subject_files`. Default: none."""
        return ()

    def validate(self, progress: bool = False) -> None:  # noqa: B027 - optional hook
        """Check every subject before any training starts (files present, readable,
        consistent); raise an error that names the bad file. Default: nothing to check."""


def split_train_test(ids: list[str], test_fraction: float, seed: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Seeded random split; ``test_fraction=0.2`` is the paper's 4:1."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test = max(1, round(len(ids) * test_fraction))
    test = tuple(sorted(ids[i] for i in order[:n_test]))
    train = tuple(sorted(ids[i] for i in order[n_test:]))
    return train, test


class SplitDataset(Dataset):
    """Base for datasets that fix their train/test split when created (in ``_train``, ``_test``)."""

    _train: tuple[str, ...] = ()
    _test: tuple[str, ...] = ()

    @property
    def train_ids(self) -> tuple[str, ...]:
        return self._train

    @property
    def test_ids(self) -> tuple[str, ...]:
        return self._test


class GeneratedDataset(SplitDataset):
    """Base for datasets that make their subjects from a seed (``mni2d``, ``synthetic``).

    Subjects are named ``{name}-0000``, ``{name}-0001``, ...; the options
    ``n_subjects``, ``seed`` and ``test_fraction`` give their number and their split.
    Subclasses make subject ``index`` in :meth:`load` via :meth:`subject_index`.
    """

    option_rules: ClassVar[Mapping[str, Rule]] = {"n_subjects": Range(at_least=2),
                                                  "test_fraction": Range(above=0, below=1)}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        n_subjects = int(self.options["n_subjects"])
        ids = [f"{self.name}-{i:04d}" for i in range(n_subjects)]
        self._train, self._test = split_train_test(ids, self.options["test_fraction"], self.options["seed"])

    def subject_index(self, subject_id: str) -> int:
        """The number of a generated subject; a clear KeyError for any other id."""
        if subject_id not in self._train and subject_id not in self._test:
            raise KeyError(
                f"{self.name} has no subject {subject_id!r}: ids run from {self.name}-0000 to "
                f"{self.name}-{int(self.options['n_subjects']) - 1:04d} (option n_subjects), plus {self.atlas_id!r}"
            )
        return int(subject_id.rsplit("-", 1)[1])
