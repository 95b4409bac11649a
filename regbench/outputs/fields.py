"""Displacement fields as files that leave or enter regbench: Learn2Reg's submission
layout (``regbench run --export l2r DIR`` writes it, ``regbench evaluate`` reads it) and
the fields of ``regbench run --save-warped`` (read by ``regbench evaluate``).

Learn2Reg's layout: one ``disp_FFFF_MMMM.nii.gz`` per pair, FFFF and MMMM the fixed
and moving case numbers (``OASIS_0395`` -> ``0395``; see :func:`case_names` for ids
without one), an array of shape ``(*spatial, ndim)``: the
displacement along each array axis in voxels, pulling back, ``warped(x) =
moving(x + disp(x))`` — regbench's field ``u`` with its components moved last.
Fields at half resolution (each spatial size halved) are read too: their values are
in full-resolution voxels and they are brought to full size with
``scipy.ndimage.zoom(order=2)``, as the challenge's 2021 evaluation did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from regbench.common.atomic import atomic_write
from regbench.outputs.nifti import KEY_FILE, pair_file, reset_folder
from regbench.plugin.dataset import Pair

EXPORT_FORMATS = ("l2r",)
_CASE_NUMBER = re.compile(r"(?:.*\D)?(\d{4})")


def case_names(pairs: Iterable[Pair]) -> dict[str, str]:
    """Each subject's name in Learn2Reg file names: its trailing 4-digit case number
    when every subject has one and no two share it, else its id made file-safe, with
    "-" for "_" (which separates the two names in ``disp_FFFF_MMMM``)."""
    ids = sorted({subject for pair in pairs for subject in (pair.fixed_id, pair.moving_id)})
    numbers = {subject: match.group(1) for subject in ids if (match := _CASE_NUMBER.fullmatch(subject))}
    if len(numbers) == len(ids) and len(set(numbers.values())) == len(ids):
        return numbers
    return {subject: re.sub(r"[^A-Za-z0-9.-]+", "-", subject) for subject in ids}


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
    def for_method(cls, root: Path, method: str, result_key: str, pairs: Sequence[Pair]) -> L2rFolder:
        """``root/<method>``, its older fields removed when they came from other settings or
        code (another result key); other files in it are left alone."""
        folder = root / method
        reset_folder(folder, result_key, "disp_*.nii.gz")
        return cls(folder, case_names(pairs))

    def path(self, pair: Pair) -> Path:
        return self.folder / f"disp_{self.names[pair.fixed_id]}_{self.names[pair.moving_id]}.nii.gz"

    def has(self, pair: Pair) -> bool:
        return self.path(pair).is_file()

    def write(self, pair: Pair, displacement: np.ndarray, affine: np.ndarray) -> None:
        """Written atomically, in the field's own precision (float16 as float32)."""
        field = np.moveaxis(displacement, 0, -1)
        field = field.astype(np.float64 if field.dtype == np.float64 else np.float32)
        atomic_write(self.path(pair), lambda path: nib.save(nib.Nifti1Image(field, affine), path))

    def read(self, pair: Pair, shape: tuple[int, ...]) -> np.ndarray:
        return read_field(self.path(pair), shape)


@dataclass(frozen=True)
class SavedFolder:
    """One method's ``--save-warped`` folder (``OUT/warped/<method>``): its fields."""

    folder: Path

    def path(self, pair: Pair) -> Path:
        return pair_file(self.folder, pair, "displacement")

    def read(self, pair: Pair, shape: tuple[int, ...]) -> np.ndarray:
        return read_field(self.path(pair), shape)


def field_folder(folder: Path, pairs: Sequence[Pair]) -> L2rFolder | SavedFolder:
    """The fields in ``folder``, in whichever layout it holds; a ValueError naming the
    folder and the file names expected when it holds neither."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of displacement fields")
    if any(folder.glob("disp_*.nii.gz")):
        return L2rFolder(folder, case_names(pairs))
    if any(folder.glob("*_displacement.nii.gz")) or (folder / KEY_FILE).is_file():
        return SavedFolder(folder)
    example = L2rFolder(folder, case_names(pairs)).path(pairs[0]).name if pairs else "disp_FFFF_MMMM.nii.gz"
    raise ValueError(f"{folder} holds no displacement fields: expected Learn2Reg's layout (e.g. {example}) or the "
                     f"fields of `regbench run --save-warped` (OUT/warped/<method>/<pair>_displacement.nii.gz)")
