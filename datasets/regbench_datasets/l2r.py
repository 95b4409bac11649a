"""``l2r-oasis``: the Learn2Reg OASIS task (brain MRI, inter-subject, 3D).

Users bring the data. Layout of the root folder::

    OASIS_dataset.json      "training": [{"image": "./imagesTr/OASIS_0001_0000.nii.gz",
                                          "label": "./labelsTr/OASIS_0001_0000.nii.gz"}, ...]
                            "registration_val": [{"fixed": ..., "moving": ...}, ...]
    imagesTr/ labelsTr/ masksTr/   volumes of 160x224x192

The test pairs are the task's ``registration_val`` pairs; every other subject trains.
Arrays keep the order nibabel reads them in, which is the order of Learn2Reg's own
evaluation: a regbench field ``u`` (3, *spatial) is Learn2Reg's displacement
``np.moveaxis(u, 0, -1)`` (voxel units, applied with
``map_coordinates(moving, identity + disp)``), so fields and metrics line up.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from regbench import Pair, hookimpl
from regbench.data import (
    DataError,
    NiftiDataset,
    SubjectFiles,
    read_labels,
    require_file,
)

DESCRIPTION_FILE = "OASIS_dataset.json"


def _subject_id(path: str) -> str:
    """``./imagesTr/OASIS_0001_0000.nii.gz`` -> ``OASIS_0001``."""
    name = Path(path).name.split(".nii")[0]
    return name.rsplit("_", 1)[0] if name.endswith("_0000") else name


class L2rOasis(NiftiDataset):
    name = "l2r-oasis"
    description = "Learn2Reg OASIS (3D, 160x224x192, 35 labels), its registration_val pairs (bring the data: --data-dir)"
    ndim = 3
    pairwise = True

    @functools.cached_property
    def _description(self) -> dict:
        path = require_file(self.root / DESCRIPTION_FILE, f"dataset {self.name!r} (Learn2Reg layout)")
        try:
            description = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise DataError(f"{path} is not valid JSON ({error})") from None
        for key in ("training", "registration_val"):
            if not isinstance(description.get(key), list) or not description[key]:
                raise DataError(f"{path} has no list {key!r}; expected Learn2Reg's dataset description")
        return description

    def list_subjects(self) -> list[SubjectFiles]:
        files = []
        for entry in self._description["training"]:
            image = require_file(self.root / entry["image"], f"{DESCRIPTION_FILE} entry {entry['image']!r}")
            label = entry.get("label")
            if label is None:
                raise DataError(f"{DESCRIPTION_FILE}: subject {entry['image']!r} has no 'label' (segmentation)")
            seg = require_file(self.root / label, f"{DESCRIPTION_FILE} entry {label!r}")
            case = _subject_id(entry["image"])
            if _subject_id(label) != case:  # a shifted list would score every subject with another's labels
                raise DataError(f"{DESCRIPTION_FILE}: subject {entry['image']!r} has the label {label!r} of another "
                                f"case ({_subject_id(label)!r}); expected the label map of case {case!r}")
            files.append(SubjectFiles(case, image, seg))
        return files

    def label_names(self) -> dict[int, str]:
        named = self._description.get("labels")
        if isinstance(named, dict) and len(named) > 1:
            return {int(key): str(value) for key, value in named.items() if int(key) != 0}
        first = next(iter(self.files.values()))
        return {int(label): f"label {label}" for label in np.unique(read_labels(first.seg, self.ndim)) if label != 0}

    def shared_files(self) -> tuple[Path, ...]:
        """The description (subjects, pairs, label names) and, when it names no labels,
        the label map the label list is read from."""
        named = self._description.get("labels")
        first = () if isinstance(named, dict) and len(named) > 1 else (next(iter(self.files.values())).seg,)
        return (*super().shared_files(), self.root / DESCRIPTION_FILE, *first)

    def _val_pairs(self) -> list[Pair]:
        pairs = [Pair(fixed_id=_subject_id(p["fixed"]), moving_id=_subject_id(p["moving"]))
                 for p in self._description["registration_val"]]
        for pair in pairs:
            for subject_id in (pair.fixed_id, pair.moving_id):
                if subject_id not in self.files:
                    raise DataError(f"{DESCRIPTION_FILE}: registration_val names {subject_id!r}, "
                                    f"which is not among its 'training' subjects")
        return pairs

    def _read_pairs(self, path: str) -> list[Pair]:
        return super()._read_pairs(path) or self._val_pairs()


@hookimpl
def regbench_register_datasets(register) -> None:
    register(L2rOasis)
