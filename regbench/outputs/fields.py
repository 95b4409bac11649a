"""Displacement fields as files that leave or enter regbench: Learn2Reg's submission
layout (``regbench run --export l2r DIR`` writes it, ``regbench evaluate`` reads it),
the fields of ``regbench run --save-warped`` (read by ``regbench evaluate``), and ITK
transforms (``--export itk``/``itk-h5``, and what ANTs and elastix write; see
:mod:`regbench.outputs.transforms`).

Learn2Reg's layout: one ``disp_FFFF_MMMM.nii.gz`` per pair, FFFF and MMMM the fixed
and moving case numbers (``OASIS_0395`` -> ``0395``; ``NLST_0101_0000`` and
``NLST_0101_0001``, two images of case 0101 -> ``disp_0101_0101``; see
:func:`case_names` for ids without one), an array of shape ``(*spatial, ndim)``: the
displacement along each array axis in voxels, pulling back, ``warped(x) =
moving(x + disp(x))`` — regbench's field ``u`` with its components moved last.
Fields at half resolution (each spatial size halved) are read too: their values are
in full-resolution voxels and they are brought to full size with
``scipy.ndimage.zoom(order=2)``, as the challenge's 2021 evaluation did.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from regbench.common.atomic import atomic_write
from regbench.common.listing import some
from regbench.outputs.nifti import pair_file, subject_affine
from regbench.outputs.owned import OWNED_FILE, claim_files
from regbench.outputs.transforms import ItkFolder, TransformFolder, h5_writer, xfm_labels
from regbench.plugin.dataset import Pair, Subject

_CASE_NUMBER = re.compile(r"(?:.*\D)?(\d{4})")  # OASIS_0395: case 0395
_IMAGE_OF_CASE = re.compile(r"((?:.*\D)?(\d{4}))_(\d{4})")  # NLST_0101_0001: image 0001 of case NLST_0101


def _case(subject: str) -> tuple[str, str, str | None] | None:
    """A subject's case, the case's number and the image's number, as Learn2Reg names
    its files: an id of an image of a case, ``..._NNNN_MMMM``, is image ``MMMM`` of
    case ``..._NNNN``; any other id ending in 4 digits is a case of its own (no image
    number); None for an id without a number."""
    if match := _IMAGE_OF_CASE.fullmatch(subject):
        return match.group(1), match.group(2), match.group(3)
    if match := _CASE_NUMBER.fullmatch(subject):
        return subject, match.group(1), None
    return None


def _short_name_fits(fixed: tuple[str, str, str | None], moving: tuple[str, str, str | None]) -> bool:
    """Whether ``disp_FFFF_MMMM`` names this pair and no other: images ``_0000`` of two
    cases (AbdomenCTCT, OASIS), or ``_0000`` onto ``_0001`` of one case (NLST's pairs,
    the only short form the challenge's evaluation 2.0 reads within a case)."""
    same_case = fixed[0] == moving[0]
    return fixed[2] in (None, "0000") and moving[2] in ((None, "0001") if same_case else (None, "0000"))


def _by_case_number(pairs: Sequence[Pair], ids: Sequence[str]) -> dict[str, str] | None:
    """Each subject's name from its case number (:func:`_case`), when every subject has
    one and no number stands for two cases; else None. As the challenge's evaluation
    reads them: the short name ``NNNN`` for an image of a case when it fits every pair
    (:func:`_short_name_fits`: ``disp_0101_0101``); otherwise the long name ``NNNN_MMMM``
    (``disp_0101_0001_0101_0000`` for NLST's reverse pair), so that no two pairs, in this
    run or another, share a file."""
    cases = {subject: case for subject in ids if (case := _case(subject)) is not None}
    if len(cases) != len(ids):
        return None
    owners: dict[str, str] = {}  # case number -> its case
    for case, number, _ in cases.values():
        if owners.setdefault(number, case) != case:  # A_0001 and B_0001: two cases, one number
            return None
    short = all(_short_name_fits(cases[pair.fixed_id], cases[pair.moving_id]) for pair in pairs)
    return {subject: number if short or image is None else f"{number}_{image}"
            for subject, (_, number, image) in cases.items()}


def case_names(pairs: Iterable[Pair]) -> dict[str, str]:
    """Each subject's name in Learn2Reg file names, as the challenge names them: the
    number of its case (``OASIS_0395`` -> ``0395``; both images of an intra-patient case,
    ``NLST_0101_0000`` and ``NLST_0101_0001``, -> ``0101``, so their pair's file is
    ``disp_0101_0101.nii.gz``; with the number of the image for pairs the short name
    does not fit, :func:`_by_case_number`) when every subject has one and no number
    stands for two cases; else its id made file-safe, with "-" for "_"
    (which separates the two names in ``disp_FFFF_MMMM``); a ValueError naming both when
    two ids become one name."""
    pairs = list(pairs)
    ids = sorted({subject for pair in pairs for subject in (pair.fixed_id, pair.moving_id)})
    numbers = _by_case_number(pairs, ids)
    if numbers is not None:
        return numbers
    names: dict[str, str] = {}
    owners: dict[str, str] = {}  # file name -> the subject it stands for
    for subject in ids:
        name = re.sub(r"[^A-Za-z0-9.-]+", "-", subject)
        other = owners.setdefault(name, subject)
        if other != subject:  # one file name would stand for the pairs of two subjects
            raise ValueError(f"subjects {other!r} and {subject!r} both become {name!r} in Learn2Reg file names "
                             f"(disp_FFFF_MMMM.nii.gz); expected ids that differ in letters, digits, '.' or '-'")
        names[subject] = name
    return names


def _full_size(field: np.ndarray, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """``field`` (ndim, *spatial) at ``shape``: as it is, or upsampled from half resolution."""
    spatial = field.shape[1:]
    if spatial == shape:
        return field
    if all(size in (full // 2, (full + 1) // 2) for size, full in zip(spatial, shape, strict=True)):
        factors = [full / size for full, size in zip(shape, spatial, strict=True)]
        return np.stack([ndimage.zoom(component, factors, order=2, grid_mode=False) for component in field])
    raise ValueError(f"{path} holds a field of spatial shape {spatial}; expected {shape} (full resolution) "
                     f"or half of it")


def read_field(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The field in ``path`` as regbench's ``(ndim, *shape)``: from ``(*spatial, ndim)``,
    with any singleton axes between (NIfTI vector images: ``(*spatial, 1, ndim)``), in the
    file's float precision (float64 stays float64, everything else becomes float32)."""
    image = nib.load(path)
    dtype = np.float64 if image.get_data_dtype() == np.float64 else np.float32
    data = image.get_fdata(dtype=dtype)
    ndim = len(shape)
    if data.ndim < ndim + 1 or data.shape[-1] != ndim or any(size != 1 for size in data.shape[ndim:-1]):
        raise ValueError(f"{path} holds an array of shape {data.shape}; expected (*spatial, {ndim}): "
                         f"a {ndim}D displacement with its {ndim} components last")
    field = np.moveaxis(data.reshape(*data.shape[:ndim], ndim), -1, 0)
    return _full_size(np.ascontiguousarray(field), shape, path)


@dataclass(frozen=True)
class L2rFolder:
    """One method's fields in Learn2Reg's layout (module doc)."""

    folder: Path
    names: Mapping[str, str]  # subject id -> its name in file names (:func:`case_names`)

    @classmethod
    def for_method(cls, root: Path, method: str, result_key: str, all_pairs: Sequence[Pair],
                   written: Sequence[Pair]) -> L2rFolder:
        """``root/<method>``, with file names from ``all_pairs``, claimed for the fields of
        the ``written`` pairs under ``result_key`` (:func:`regbench.outputs.owned.claim_files`:
        fields regbench wrote under another key are removed, files it did not write are
        never touched)."""
        exported = cls(root / method, case_names(all_pairs))
        claim_files(exported.folder, result_key, [exported.path(pair) for pair in written])
        return exported

    def path(self, pair: Pair) -> Path:
        return self.folder / f"disp_{self.names[pair.fixed_id]}_{self.names[pair.moving_id]}.nii.gz"

    def has(self, pair: Pair) -> bool:
        return self.path(pair).is_file()

    def write(self, pair: Pair, displacement: np.ndarray, fixed: Subject, moving: Subject,
              spacing: tuple[float, ...]) -> None:
        """Written atomically, in the field's own precision (float16 as float32), with the fixed image's affine."""
        field = np.moveaxis(displacement, 0, -1)
        field = field.astype(np.float64 if field.dtype == np.float64 else np.float32)
        image = nib.Nifti1Image(field, subject_affine(fixed, spacing))
        atomic_write(self.path(pair), lambda path: nib.save(image, path))

    def read(self, pair: Pair, fixed: Subject, moving: Subject, spacing: tuple[float, ...]) -> np.ndarray:
        return read_field(self.path(pair), fixed.image.shape)


@dataclass(frozen=True)
class SavedFolder:
    """One method's ``--save-warped`` folder (``OUT/warped/<method>``): its fields."""

    folder: Path

    def path(self, pair: Pair) -> Path:
        return pair_file(self.folder, pair, "displacement")

    def read(self, pair: Pair, fixed: Subject, moving: Subject, spacing: tuple[float, ...]) -> np.ndarray:
        return read_field(self.path(pair), fixed.image.shape)


FieldExport = L2rFolder | ItkFolder  # where --export writes one method's fields
FieldSource = L2rFolder | SavedFolder | TransformFolder  # where `regbench evaluate` reads them


def check_export(format_: str, pairs: Sequence[Pair]) -> None:
    """A ValueError, before any work, when export format ``format_`` would name two of
    ``pairs``' subjects alike or cannot be written here (its extra not installed)."""
    if format_ == "l2r":
        case_names(pairs)
    else:
        xfm_labels(pairs)
    if format_ == "itk-h5":
        h5_writer()


@dataclass(frozen=True)
class ExportTarget:
    """``--export FORMAT DIR``: where every method's fields go, and in which format."""

    format: str
    root: Path

    def for_method(self, method: str, result_key: str, all_pairs: Sequence[Pair],
                   written: Sequence[Pair]) -> FieldExport:
        """``DIR/<method>``, claimed for the ``written`` pairs' files under ``result_key``
        (:func:`regbench.outputs.owned.claim_files`), file names from ``all_pairs``."""
        if self.format == "l2r":
            return L2rFolder.for_method(self.root, method, result_key, all_pairs, written)
        suffix = ".h5" if self.format == "itk-h5" else ".nii.gz"
        return ItkFolder.for_method(self.root, method, result_key, all_pairs, written, suffix=suffix)


def _unmatched(source: L2rFolder | TransformFolder, pairs: Sequence[Pair]) -> list[str]:
    """The fields (or transforms) in ``source`` that no pair reads."""
    if isinstance(source, L2rFolder):
        expected = {source.path(pair).name for pair in pairs}
        return sorted(path.name for path in source.folder.glob("disp_*.nii.gz") if path.name not in expected)
    stems = {source.stem(pair) for pair in pairs}
    return sorted(path.name for path in source.folder.glob("sub-*_xfm*")
                  if not any(path.name.startswith(stem) for stem in stems))


def _warn_unmatched(source: L2rFolder | TransformFolder, pairs: Sequence[Pair]) -> None:
    """Name the fields that no pair reads (a misnamed file, or another dataset's fields):
    a warning, not an error, since a folder may hold more fields than the pairs scored."""
    unmatched = _unmatched(source, pairs)
    if unmatched:
        print(f"regbench: warning: {source.folder}: {len(unmatched)} field(s) match no test pair of the dataset "
              f"({some(unmatched)}); they are not scored", file=sys.stderr)


def field_folder(folder: Path, pairs: Sequence[Pair]) -> FieldSource:
    """The fields in ``folder``, in whichever layout it holds; a ValueError naming the
    folder and the file names expected when it holds none. Learn2Reg-layout fields
    and transforms that match no pair are named in a warning."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of displacement fields")
    source: L2rFolder | TransformFolder | None = None
    if any(folder.glob("disp_*.nii.gz")):
        source = L2rFolder(folder, case_names(pairs))
    elif any(folder.glob("sub-*_xfm*")):
        source = TransformFolder(folder, xfm_labels(pairs))
    if source is not None:
        _warn_unmatched(source, pairs)
        return source
    if any(folder.glob("*_displacement.nii.gz")) or (folder / OWNED_FILE).is_file():
        return SavedFolder(folder)
    example = L2rFolder(folder, case_names(pairs)).path(pairs[0]).name if pairs else "disp_FFFF_MMMM.nii.gz"
    raise ValueError(f"{folder} holds no displacement fields: expected Learn2Reg's layout (e.g. {example}), the "
                     f"fields of `regbench run --save-warped` (OUT/warped/<method>/<pair>_displacement.nii.gz), or "
                     f"ITK/ANTs transforms (sub-<moving>_from-<moving>_to-<fixed>_mode-image_xfm.h5, see "
                     f"`regbench evaluate --help`)")
