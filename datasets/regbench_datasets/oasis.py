"""``oasis2d`` and ``oasis3d``: the neurite-OASIS v1.0 release (the reference paper's data).

Users bring the data (it is not downloaded). Layout of the root folder::

    subjects.txt                    one subject folder name per line
    seg4_labels.txt seg24_labels.txt seg35_labels.txt   FreeSurfer-style label tables
    OASIS_OAS1_0001_MR1/
        slice_norm.nii.gz  slice_seg24.nii.gz           2D: 160x192 (stored 160x192x1)
        aligned_norm.nii.gz  aligned_seg35.nii.gz  aligned_seg4.nii.gz   3D: 160x192x224

Intensities are already normalised to [0, 1] by the release; label names come from the
label table of the chosen segmentation (option ``seg``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from regbench import Dataset, Registry, hookimpl
from regbench.data import (
    DataError,
    NiftiDataset,
    SubjectFiles,
    read_label_names,
    require_dir,
    require_file,
)


class NeuriteOasis(NiftiDataset):
    image_file: ClassVar[str]
    seg_prefix: ClassVar[str]
    segmentations: ClassVar[tuple[int, ...]]

    def _seg(self) -> int:
        seg = int(self.options["seg"])
        if seg not in self.segmentations:
            raise DataError(f"dataset {self.name!r}: seg must be one of {self.segmentations}, got {seg}")
        return seg

    def list_subjects(self) -> list[SubjectFiles]:
        listing = require_file(self.root / "subjects.txt", f"dataset {self.name!r} (neurite-OASIS layout)")
        ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        if not ids:
            raise DataError(f"{listing} lists no subjects; expected one subject folder name per line")
        seg_file = f"{self.seg_prefix}{self._seg()}.nii.gz"
        files = []
        for subject_id in ids:
            folder = require_dir(self.root / subject_id, f"subject {subject_id!r} listed in {listing}")
            image = require_file(folder / self.image_file, f"subject {subject_id!r}: image")
            seg = require_file(folder / seg_file, f"subject {subject_id!r}: segmentation")
            files.append(SubjectFiles(subject_id, image, seg))
        return files

    def label_names(self) -> dict[int, str]:
        return read_label_names(self.root / f"seg{self._seg()}_labels.txt")

    def shared_files(self) -> tuple[Path, ...]:
        return (*super().shared_files(), self.root / "subjects.txt", self.root / f"seg{self._seg()}_labels.txt")


class Oasis2d(NeuriteOasis):
    name = "oasis2d"
    description = "neurite-OASIS v1.0, 2D coronal slices 160x192 with 24 labels (bring the data: --data-dir)"
    default_options = {**NiftiDataset.default_options, "seg": 24}
    ndim = 2
    image_file = "slice_norm.nii.gz"
    seg_prefix = "slice_seg"
    segmentations = (4, 24)


class Oasis3d(NeuriteOasis):
    name = "oasis3d"
    description = "neurite-OASIS v1.0, 3D volumes 160x192x224 with 35 (or 4) labels (bring the data: --data-dir)"
    default_options = {**NiftiDataset.default_options, "seg": 35}
    ndim = 3
    image_file = "aligned_norm.nii.gz"
    seg_prefix = "aligned_seg"
    segmentations = (4, 35)


@hookimpl
def regbench_register_datasets(register: Registry[Dataset]) -> None:
    register(Oasis2d)
    register(Oasis3d)
