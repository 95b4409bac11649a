"""``nifti-pairs``: anyone's NIfTI data, in one of two forms.

- A CSV manifest (option ``manifest``) with columns ``fixed``, ``moving`` and
  optionally ``fixed_seg``, ``moving_seg``: every row is a test pair (paths absolute or
  relative to the manifest). Pairwise; no training subjects, so for classical and
  pre-trained methods.
- A folder (``--data-dir``) with glob patterns ``images`` and ``segs`` (matched in
  sorted order): subjects registered to an atlas (option ``atlas``, else the first),
  split 4:1 into train and test like OASIS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from regbench import Pair, hookimpl
from regbench.data import (
    DataError,
    NiftiDataset,
    SubjectFiles,
    read_labels,
    require_file,
)


def _stem(path: Path) -> str:
    return path.name.split(".nii")[0]


class NiftiPairs(NiftiDataset):
    name = "nifti-pairs"
    description = "your NIfTI files: a CSV manifest of pairs, or a folder of images (and labels) with an atlas"
    default_options = {
        **NiftiDataset.default_options,
        "normalize": "minmax",
        "manifest": "",  # CSV: fixed, moving[, fixed_seg, moving_seg]
        "images": "*.nii.gz",  # glob in the folder (folder form)
        "segs": "",  # glob of label maps in the folder, matched to images in sorted order
        "ndim": 3,
    }

    def __init__(self, **options: Any) -> None:
        manifest = options.get("manifest", "")
        if manifest and not options.get("data_dir"):
            options["data_dir"] = str(Path(manifest).expanduser().parent)
        self.ndim = int(options.get("ndim", 3))
        self.pairwise = bool(manifest)
        self._manifest_pairs: list[Pair] = []
        super().__init__(**options)

    def list_subjects(self) -> list[SubjectFiles]:
        if self.options["manifest"]:
            return self._from_manifest(Path(self.options["manifest"]).expanduser())
        images = sorted(p for p in self.root.glob(self.options["images"]) if p.is_file())
        segs = sorted(p for p in self.root.glob(self.options["segs"]) if p.is_file()) if self.options["segs"] else []
        label_maps = set(segs)
        images = [p for p in images if p not in label_maps]
        if self.options["segs"] and not segs:
            raise DataError(f"{self.root}: no label maps match segs={self.options['segs']!r}; expected one per image "
                            f"(or no segs option, for images without labels)")
        if segs and len(segs) != len(images):
            raise DataError(f"{self.root}: {len(images)} images match {self.options['images']!r} but {len(segs)} "
                            f"label maps match {self.options['segs']!r}; expected one label map per image")
        return [SubjectFiles(_stem(image), image, segs[i] if segs else None) for i, image in enumerate(images)]

    def _from_manifest(self, manifest: Path) -> list[SubjectFiles]:
        require_file(manifest, "nifti-pairs manifest")
        table = pd.read_csv(manifest, dtype=str).fillna("")
        missing = {"fixed", "moving"} - set(table.columns)
        if missing:
            raise DataError(f"{manifest} lacks column(s) {sorted(missing)}; expected fixed, moving[, fixed_seg, moving_seg]")
        if table.empty:
            raise DataError(f"{manifest} lists no pairs")
        subjects: dict[Path, SubjectFiles] = {}

        def subject(image: str, seg: str, row: int) -> str:
            path = (manifest.parent / image).resolve()
            seg_path = (manifest.parent / seg).resolve() if seg else None
            require_file(path, f"{manifest}, row {row}")
            if seg_path is not None:
                require_file(seg_path, f"{manifest}, row {row}")
            known = subjects.setdefault(path, SubjectFiles(_stem(path), path, seg_path))
            return known.id

        for row, values in enumerate(table.to_dict("records"), start=2):
            fixed = subject(values["fixed"], values.get("fixed_seg", ""), row)
            moving = subject(values["moving"], values.get("moving_seg", ""), row)
            self._manifest_pairs.append(Pair(fixed_id=fixed, moving_id=moving))
        return list(subjects.values())

    def label_names(self) -> dict[int, str]:
        """The labels of the first label map (no names: plain NIfTI carries none)."""
        labelled = next((files for files in self.files.values() if files.seg is not None), None)
        if labelled is None:
            return {}
        return {int(label): f"label {label}" for label in np.unique(read_labels(labelled.seg, self.ndim)) if label != 0}

    def _read_pairs(self, path: str) -> list[Pair]:
        return super()._read_pairs(path) or self._manifest_pairs  # the manifest's rows are the pairs


@hookimpl
def regbench_register_datasets(register) -> None:
    register(NiftiPairs)
