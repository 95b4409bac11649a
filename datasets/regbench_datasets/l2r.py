"""``l2r-oasis``: the Learn2Reg OASIS task (brain MRI, inter-subject, 3D), and the base
every Learn2Reg task shares (:class:`Learn2RegTask`: the task's dataset description).

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

import abc
import functools
import json
from pathlib import Path
from typing import ClassVar

from regbench import Dataset, Pair, Registry, hookimpl
from regbench.data import (
    DataError,
    NiftiDataset,
    SubjectFiles,
    nifti_stem,
    require_file,
)


def _subject_id(path: str) -> str:
    """``./imagesTr/OASIS_0001_0000.nii.gz`` -> ``OASIS_0001``."""
    name = nifti_stem(path)
    return name.rsplit("_", 1)[0] if name.endswith("_0000") else name


class Learn2RegTask(NiftiDataset):
    """A Learn2Reg task read from its dataset description, ``description_file`` in the
    root folder: the subjects are its ``training`` images, the test pairs its
    ``registration_val`` pairs (unless the option ``pairs`` names others). Subclasses
    say what files an entry of ``training`` brings (:meth:`entry_files`) and how an
    image path becomes a subject id (:meth:`subject_id`)."""

    description_file: ClassVar[str]
    ndim = 3
    pairwise = True

    @abc.abstractmethod
    def entry_files(self, entry: dict, image_name: str, image: Path) -> SubjectFiles:
        """The files of one ``training`` entry, whose image ``image_name`` (as written in
        the description) is the checked file ``image``."""

    def subject_id(self, image_name: str) -> str:
        """The subject id of an image path as written in the description."""
        return nifti_stem(image_name)

    @functools.cached_property
    def _description(self) -> dict:
        path = require_file(self.root / self.description_file, f"dataset {self.name!r} (Learn2Reg layout)")
        try:
            description = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise DataError(f"{path} is not valid JSON ({error})") from None
        if not isinstance(description, dict):
            raise DataError(f"{path} holds no JSON object; expected Learn2Reg's dataset description")
        for key in ("training", "registration_val"):
            if not isinstance(description.get(key), list) or not description[key]:
                raise DataError(f"{path} has no list {key!r}; expected Learn2Reg's dataset description")
        return description

    def _field(self, entry: object, key: str, where: str) -> str:
        """``entry[key]``, a path; anything else is an error naming the entry."""
        value = entry.get(key) if isinstance(entry, dict) else None
        if not isinstance(value, str) or not value:
            raise DataError(f"{self.description_file}: {where} has no {key!r} path; expected Learn2Reg's dataset "
                            f"description")
        return value

    def _entry_file(self, name: str) -> Path:
        """A file the description names, relative to the root; it must exist."""
        return require_file(self.root / name, f"{self.description_file} entry {name!r}")

    def list_subjects(self) -> list[SubjectFiles]:
        files = []
        for number, entry in enumerate(self._description["training"], start=1):
            image_name = self._field(entry, "image", f"'training' entry {number}")
            files.append(self.entry_files(entry, image_name, self._entry_file(image_name)))
        return files

    def shared_files(self) -> tuple[Path, ...]:
        """The description: subjects, pairs (and label names)."""
        return (*super().shared_files(), self.root / self.description_file)

    def _val_pairs(self) -> list[Pair]:
        pairs = [Pair(fixed_id=self.subject_id(self._field(p, "fixed", f"'registration_val' entry {number}")),
                      moving_id=self.subject_id(self._field(p, "moving", f"'registration_val' entry {number}")))
                 for number, p in enumerate(self._description["registration_val"], start=1)]
        for pair in pairs:
            for subject_id in (pair.fixed_id, pair.moving_id):
                if subject_id not in self.files:
                    raise DataError(f"{self.description_file}: registration_val names {subject_id!r}, "
                                    f"which is not among its 'training' subjects")
        return pairs

    def _read_pairs(self, path: str) -> list[Pair]:
        return super()._read_pairs(path) or self._val_pairs()


class L2rOasis(Learn2RegTask):
    name = "l2r-oasis"
    description = ("Learn2Reg OASIS (3D, 160x224x192, 35 labels), its registration_val pairs "
                   "(bring the data: --data-dir)")
    description_file = "OASIS_dataset.json"

    def subject_id(self, image_name: str) -> str:
        return _subject_id(image_name)

    def entry_files(self, entry: dict, image_name: str, image: Path) -> SubjectFiles:
        label = entry.get("label")
        if not isinstance(label, str):
            raise DataError(f"{self.description_file}: subject {image_name!r} has no 'label' (segmentation)")
        seg = self._entry_file(label)
        case = _subject_id(image_name)
        if _subject_id(label) != case:  # a shifted list would score every subject with another's labels
            raise DataError(f"{self.description_file}: subject {image_name!r} has the label {label!r} of another "
                            f"case ({_subject_id(label)!r}); expected the label map of case {case!r}")
        return SubjectFiles(case, image, seg)

    def label_names(self) -> dict[int, str]:
        """The description's ``labels`` (id -> name), else every label of the label maps."""
        named = self._description.get("labels")
        if not (isinstance(named, dict) and len(named) > 1):
            return self.labels_in_maps()
        if not all(str(key).isdigit() for key in named):
            raise DataError(f"{self.root / self.description_file}: 'labels' must map label numbers to names, got "
                            f"keys {sorted(map(str, named))[:5]}")
        return {int(key): str(value) for key, value in named.items() if int(key) != 0}


@hookimpl
def regbench_register_datasets(register: Registry[Dataset]) -> None:
    register(L2rOasis)
