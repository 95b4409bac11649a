"""Datasets made of NIfTI files: reading, checking and preparing one subject at a time.

Every problem with a file becomes a :class:`DataError` that names the file and says
what was expected. :class:`NiftiDataset` is the base of the dataset plugins that read
folders (neurite-OASIS, Learn2Reg, anyone's NIfTI): it loads subjects on demand, so
memory does not grow with their number, applies the options every such dataset
shares (split, atlas, label subset, intensity normalisation, crop/pad) and checks
every subject in :meth:`NiftiDataset.validate` before any training starts.
"""

from __future__ import annotations

import abc
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import nibabel as nib
import numpy as np
from tqdm.auto import tqdm

from regbench.data.errors import DataError, require_dir, require_file
from regbench.data.landmarks import read_landmarks
from regbench.plugin.dataset import PAIR_SEPARATOR, Pair, SplitDataset, Subject, first_outside, split_train_test
from regbench.plugin.options import Choices, Range

LARGEST_LABEL = int(np.iinfo(np.int32).max)  # labels are int32 once read


@dataclass(frozen=True)
class SubjectFiles:
    """Where one subject's image, (optional) label map and (optional) landmarks live
    (:mod:`regbench.data.landmarks`)."""

    id: str
    image: Path
    seg: Path | None = None
    landmarks: Path | None = None


def _by_id(subjects: list[SubjectFiles], dataset: str) -> dict[str, SubjectFiles]:
    """Subjects by id. Two subjects with one id is an error naming both: keeping either
    would score the other's pairs with the wrong files."""
    files: dict[str, SubjectFiles] = {}
    for subject in subjects:
        if PAIR_SEPARATOR in subject.id:  # pair ids join two subject ids with it
            raise DataError(f"dataset {dataset!r}: subject id {subject.id!r} (image {subject.image}) holds "
                            f"{PAIR_SEPARATOR!r}, which joins the two ids of a pair; rename the file")
        known = files.setdefault(subject.id, subject)
        if known is not subject:
            raise DataError(f"dataset {dataset!r}: two subjects have the id {subject.id!r} (images {known.image} and "
                            f"{subject.image}); expected one subject per id")
    return files


def nifti_stem(path: str | Path) -> str:
    """A NIfTI file's name less ``.nii[.gz]``: ``./imagesTr/NLST_0101_0000.nii.gz`` -> ``NLST_0101_0000``."""
    return Path(path).name.split(".nii")[0]


def _open(path: Path) -> nib.Nifti1Image:
    require_file(path, "NIfTI image")
    try:
        return nib.load(path)
    except Exception as error:  # nibabel raises many kinds for a broken file
        raise DataError(f"{path} is not a readable NIfTI file ({type(error).__name__}: {error})") from None


def _spatial(array: np.ndarray, ndim: int, path: Path) -> np.ndarray:
    """Drop trailing singleton axes (neurite stores 2D slices as 160x192x1) and check ndim."""
    while array.ndim > ndim and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != ndim:
        raise DataError(f"{path} has shape {array.shape}; expected a {ndim}D image")
    return array


def _read(path: Path, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    image = _open(path)
    try:
        data = np.asarray(image.dataobj)
    except Exception as error:  # truncated or corrupt data
        raise DataError(f"{path} could not be read ({type(error).__name__}: {error})") from None
    return _spatial(data, ndim, path), image.affine


def header_shape(path: Path, ndim: int) -> tuple[int, ...]:
    """The spatial shape from the header alone (cheap: no voxel is read)."""
    shape = tuple(_open(path).shape)
    while len(shape) > ndim and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != ndim:
        raise DataError(f"{path} has shape {shape}; expected a {ndim}D image")
    return shape


def _grid(path: Path, ndim: int) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """A file's voxel spacing (to 1e-3 mm) and axis orientation codes, from its header."""
    image = _open(path)
    zooms = tuple(round(float(zoom), 3) for zoom in image.header.get_zooms()[:ndim])
    return zooms, tuple(str(code) for code in nib.aff2axcodes(image.affine))[:ndim]


def _describe(grid: tuple[tuple[float, ...], tuple[str, ...]]) -> str:
    spacing, axes = grid
    return f"{'x'.join(f'{zoom:g}' for zoom in spacing)} mm, {''.join(axes)}"


def read_image(path: Path, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """A float32 image and its affine; NaN or infinite voxels are an error."""
    data, affine = _read(path, ndim)
    data = data.astype(np.float32)
    if not np.isfinite(data).all():
        raise DataError(f"{path} holds {int((~np.isfinite(data)).sum())} NaN or infinite voxels; expected finite intensities")
    return data, affine


def read_labels(path: Path, ndim: int) -> np.ndarray:
    """The label map as stored, as int32. Non-integer or negative values are an error, and
    so are values beyond int32: the cast would wrap them onto other labels (or below 0)."""
    data, _ = _read(path, ndim)
    if not np.issubdtype(data.dtype, np.integer):
        if not np.isfinite(data).all() or not np.array_equal(data, np.round(data)):
            raise DataError(f"{path} holds non-integer values; expected a label map of integers")
    if data.size and data.min() < 0:
        raise DataError(f"{path} holds negative labels; expected labels >= 0")
    if data.size and data.max() > LARGEST_LABEL:
        raise DataError(f"{path} holds label {int(data.max())}, beyond the largest label regbench takes "
                        f"({LARGEST_LABEL}); expected labels that fit a 32-bit signed integer")
    return data.astype(np.int32)


def read_label_names(path: Path) -> dict[int, str]:
    """A FreeSurfer-style lookup table: ``id name [R G B A]`` per line, ``#`` comments.
    The background (0) is left out."""
    require_file(path, "label file")
    names = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2 or not re.fullmatch(r"\d+", parts[0]):
            raise DataError(f"{path}, line {number}: expected 'ID NAME [R G B A]', got {line!r}")
        if int(parts[0]) != 0:
            names[int(parts[0])] = parts[1]
    if not names:
        raise DataError(f"{path} lists no labels besides the background")
    return names


def normalize(image: np.ndarray, how: str) -> np.ndarray:
    """``none``; ``minmax`` to [0, 1]; ``percentile``: clip to the 1st-99th percentile, then [0, 1]."""
    if how == "none":
        return image
    if how not in ("minmax", "percentile"):
        raise ValueError(f"normalize must be 'none', 'minmax' or 'percentile', got {how!r}")
    low, high = (image.min(), image.max()) if how == "minmax" else np.percentile(image, [1, 99])
    return (np.clip(image, low, high) - low) / (high - low) if high > low else np.zeros_like(image)


def crop_or_pad(array: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``array`` in ``shape`` (cropping or zero-padding each axis); also returns
    the voxel offset of the new origin in the old array, to shift the affine by."""
    offsets = np.array([(old - new) // 2 for old, new in zip(array.shape, shape)])
    source = tuple(slice(max(o, 0), max(o, 0) + min(old, new)) for o, old, new in zip(offsets, array.shape, shape))
    target = tuple(slice(max(-o, 0), max(-o, 0) + min(old, new)) for o, old, new in zip(offsets, array.shape, shape))
    result = np.zeros(shape, dtype=array.dtype)
    result[target] = array[source]
    return result, offsets


class NiftiDataset(SplitDataset):
    """Base for datasets read from NIfTI files. Subclasses list the subjects' files and
    the label names. Atlas-based by default (option ``atlas``: a subject id, or empty
    for the first subject); pairwise with the option ``pairs`` (a file of
    ``fixed,moving`` subject ids, one pair a line), or when a subclass sets ``pairwise``
    and overrides :meth:`test_pairs` (Learn2Reg's own pair list)."""

    ndim: ClassVar[int]
    pairwise: ClassVar[bool] = False
    default_options: ClassVar[Mapping[str, Any]] = {
        "data_dir": "",
        "seed": 0,
        "test_fraction": 0.2,  # the paper's 4:1 split
        "atlas": "",  # subject id of the fixed image; empty: the first subject
        "labels": (0,),  # label ids to score; (0,): every label of the label file
        "normalize": "none",  # none | minmax | percentile
        "shape": (0,),  # crop/pad every image to this shape; (0,): keep
        "validate": True,  # read every subject before training to catch bad files early
        "pairs": "",  # file of 'fixed,moving' subject ids: pairwise test pairs instead of an atlas
    }
    option_rules: ClassVar[Mapping[str, Any]] = {"test_fraction": Range(above=0, below=1),
                                                 "normalize": Choices("none", "minmax", "percentile")}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if not self.options["data_dir"]:
            raise DataError(f"dataset {self.name!r} needs its folder: --data-dir PATH (or --dataset-option data_dir=PATH)")
        self.root = require_dir(Path(self.options["data_dir"]).expanduser(), f"dataset {self.name!r}")
        self.files = _by_id(self.list_subjects(), self.name)
        if not self.files:
            raise DataError(f"dataset {self.name!r}: no subjects found in {self.root}")
        names = self.label_names()
        self._labels = self._select_labels(names)
        # With a label subset, other labels become background when a subject is loaded.
        self._keep_labels = list(self._labels) if len(self._labels) < len(names) else None
        self._pair_list = self._read_pairs(self.options.get("pairs", ""))
        if self._pair_list:
            self.pairwise = True
        ids = list(self.files)
        atlas = self.options["atlas"] or (None if self.pairwise else ids[0])
        if atlas is not None and atlas not in self.files:
            raise DataError(f"dataset {self.name!r}: atlas {atlas!r} is not one of its subjects ({ids[0]}, ...)")
        self._atlas = atlas
        others = [sid for sid in ids if sid != atlas and sid not in self.held_out()]
        if not self.pairwise and len(others) < 2:
            raise DataError(f"dataset {self.name!r} in {self.root}: {len(others)} subject(s) besides the atlas; expected at least 2")
        self._train, self._test = self.split(others)
        shape = tuple(int(n) for n in self.options["shape"])
        self._shape = shape if any(shape) else None
        if self._shape is not None and len(self._shape) != self.ndim:
            raise DataError(f"dataset {self.name!r}: shape option {shape} must have {self.ndim} sizes")

    @abc.abstractmethod
    def list_subjects(self) -> list[SubjectFiles]:
        """Every subject's files, in a stable order."""

    @abc.abstractmethod
    def label_names(self) -> dict[int, str]:
        """Label id -> name (background excluded)."""

    def _read_pairs(self, path: str) -> list[Pair]:
        if not path:
            return []
        listing = require_file(Path(path).expanduser(), f"dataset {self.name!r}: pairs")
        pairs = []
        for number, line in enumerate(listing.read_text().splitlines(), start=1):
            ids = [part.strip() for part in line.replace(",", " ").split()]
            if not ids or ids == ["fixed", "moving"]:
                continue
            if len(ids) != 2 or any(sid not in self.files for sid in ids):
                raise DataError(f"{listing}, line {number}: expected 'FIXED,MOVING' subject ids of {self.name!r}, got {line!r}")
            pair = Pair(fixed_id=ids[0], moving_id=ids[1])
            if pair in pairs:  # scored twice, it would count twice in every mean
                raise DataError(f"{listing}, line {number}: the pair {line.strip()!r} is listed twice; expected each "
                                f"pair once")
            pairs.append(pair)
        if not pairs:
            raise DataError(f"{listing} lists no pairs")
        return pairs

    def labels_in_maps(self) -> dict[int, str]:
        """Every label any subject's label map holds, named by number: for datasets
        without a label table. Every map is read, since a label absent from one subject
        must still be scored in the others."""
        found: set[int] = set()
        for files in self.files.values():
            if files.seg is not None:
                found.update(int(label) for label in np.unique(read_labels(files.seg, self.ndim)))
        return {label: f"label {label}" for label in sorted(found - {0})}

    def subject_files(self, subject_id: str) -> tuple[Path, ...]:
        files = self.files[subject_id]
        return tuple(path for path in (files.image, files.seg, files.landmarks) if path is not None)

    def shared_files(self) -> tuple[Path, ...]:
        """The pair list, when the option ``pairs`` names one; subclasses add the files
        their listing and label names come from."""
        return (Path(self.options["pairs"]).expanduser(),) if self.options.get("pairs") else ()

    def held_out(self) -> set[str]:
        """Subjects kept out of training: those of fixed test pairs."""
        return {sid for pair in self._pair_list for sid in (pair.fixed_id, pair.moving_id)}

    def split(self, ids: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if self._pair_list:
            return tuple(ids), tuple(sorted(self.held_out()))
        return split_train_test(ids, self.options["test_fraction"], self.options["seed"])

    def test_pairs(self) -> list[Pair]:
        return list(self._pair_list) if self._pair_list else super().test_pairs()

    def _check_pair_landmarks(self) -> None:
        """Each test pair's landmarks: both images have them, or neither, and as many
        points in each (rows are matched by position); an error naming both files."""
        @functools.cache
        def count(subject_id: str) -> int:  # an atlas's file is read once, not once per pair
            files = self.files[subject_id]
            assert files.landmarks is not None
            return len(read_landmarks(files.landmarks, header_shape(files.image, self.ndim), _open(files.image).affine,
                                      self._landmark_space))

        for pair in self.test_pairs():
            fixed, moving = self.files[pair.fixed_id].landmarks, self.files[pair.moving_id].landmarks
            if fixed is None and moving is None:
                continue
            if fixed is None or moving is None:
                has, lacks = (pair.fixed_id, pair.moving_id) if moving is None else (pair.moving_id, pair.fixed_id)
                raise DataError(f"dataset {self.name!r}, pair {pair.id}: {has!r} has landmarks "
                                f"({fixed or moving}) but {lacks!r} has none; expected landmarks for both or neither")
            counts = count(pair.fixed_id), count(pair.moving_id)
            if counts[0] != counts[1]:
                raise DataError(f"dataset {self.name!r}, pair {pair.id}: {counts[0]} landmarks in {fixed} but "
                                f"{counts[1]} in {moving}; expected the same points in both, row by row")

    def _select_labels(self, names: dict[int, str]) -> dict[int, str]:
        wanted = [int(label) for label in self.options["labels"] if int(label) != 0]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise DataError(f"dataset {self.name!r}: labels {unknown} are not in its label list ({sorted(names)})")
        return {label: names[label] for label in wanted} if wanted else names

    @property
    def labels(self) -> Mapping[int, str]:
        return self._labels

    @functools.cached_property
    def spacing(self) -> tuple[float, ...]:
        """From the first subject's header, read once (every pair asks for it)."""
        zooms = _open(self.files[next(iter(self.files))].image).header.get_zooms()
        return tuple(float(z) for z in zooms[: self.ndim])

    @property
    def atlas_id(self) -> str | None:
        return self._atlas

    def load(self, subject_id: str) -> Subject:
        files = self.files.get(subject_id)
        if files is None:
            raise KeyError(f"dataset {self.name!r} has no subject {subject_id!r}")
        image, affine = read_image(files.image, self.ndim)
        seg = read_labels(files.seg, self.ndim) if files.seg is not None else None
        if seg is not None and seg.shape != image.shape:
            raise DataError(f"{files.seg} has shape {seg.shape} but its image {files.image} has {image.shape}; expected equal shapes")
        landmarks = None
        if files.landmarks is not None:
            landmarks = read_landmarks(files.landmarks, image.shape, affine, self._landmark_space)
        image = normalize(image, self.options["normalize"])
        if seg is not None and self._keep_labels is not None:
            seg = np.where(np.isin(seg, self._keep_labels), seg, 0)
        if self._shape is not None:
            image, offsets = crop_or_pad(image, self._shape)
            seg = crop_or_pad(seg, self._shape)[0] if seg is not None else None
            shift = np.eye(4)
            shift[: self.ndim, 3] = offsets
            affine = affine @ shift
            if landmarks is not None:
                landmarks = self._cropped(landmarks, offsets, files.landmarks)
        return Subject(subject_id, image, seg, affine, landmarks)

    @property
    def _landmark_space(self) -> str:
        """How the landmark files give their points: ``voxel`` unless a dataset declares the
        option ``landmark_space`` (nifti-pairs does)."""
        return str(self.options.get("landmark_space", "voxel"))

    def _cropped(self, landmarks: np.ndarray, offsets: np.ndarray, path: Path) -> np.ndarray:
        """Landmarks moved with the image by the shape option's crop or pad; one the crop
        cuts off is an error naming the file (its pair could not be scored by TRE)."""
        moved = landmarks - offsets
        row = first_outside(moved, self._shape)
        if row is not None:
            raise DataError(f"{path}, point {row + 1}: {tuple(landmarks[row].round(3).tolist())} lies outside the "
                            f"image once cropped to shape={self._shape}; expected a shape option that keeps every "
                            f"landmark")
        return moved

    def validate(self, progress: bool = False) -> None:
        """Check every subject's files: headers first (cheap: shapes, voxel spacing and
        orientation, which must agree, since methods and metrics compare voxels), then
        every voxel, one subject at a time."""
        shapes, grids = {}, {}
        for files in self.files.values():
            shapes[files.id] = header_shape(files.image, self.ndim)
            grids[files.id] = _grid(files.image, self.ndim)
            if files.seg is not None and header_shape(files.seg, self.ndim) != shapes[files.id]:
                raise DataError(f"{files.seg} has shape {header_shape(files.seg, self.ndim)} but its image "
                                f"{files.image} has {shapes[files.id]}; expected equal shapes")
        first_id, first_shape = next(iter(shapes.items()))
        other = next((item for item in shapes.items() if item[1] != first_shape), None)
        if self._shape is None and other is not None:
            raise DataError(f"dataset {self.name!r}: subjects differ in shape ({first_id}: {first_shape}, "
                            f"{other[0]}: {other[1]}); expected one shape, or set the shape option to crop/pad them")
        other = next((item for item in grids.items() if item[1] != grids[first_id]), None)
        if other is not None:
            raise DataError(f"dataset {self.name!r}: subjects differ in voxel spacing or orientation ({first_id}: "
                            f"{_describe(grids[first_id])}, {other[0]}: {_describe(other[1])}); expected one grid "
                            f"for all: resample and reorient them first (every metric compares voxels)")
        self._check_pair_landmarks()
        if self.options["validate"]:
            for subject_id in tqdm(self.files, desc=f"check {self.name}", unit="subject", disable=not progress, leave=False):
                self.load(subject_id)
