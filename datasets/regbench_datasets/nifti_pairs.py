"""``nifti-pairs``: anyone's NIfTI data, in one of two forms.

- A CSV manifest (option ``manifest``) with columns ``fixed``, ``moving`` and
  optionally ``fixed_seg``, ``moving_seg`` (label maps) and ``fixed_landmarks``,
  ``moving_landmarks`` (landmark CSVs, :mod:`regbench.data.landmarks`; voxel
  coordinates, or world mm with the option ``landmark_space=world``): every row is a
  test pair (paths absolute or relative to the manifest). Pairwise; no training
  subjects, so for classical and pre-trained methods.
- A folder (``--data-dir``) with glob patterns ``images`` and ``segs``: subjects
  registered to an atlas (option ``atlas``, else the first), split 4:1 into train and
  test like OASIS. An image and its label map are paired by what the wildcards of their
  patterns match (``img_*.nii.gz`` and ``seg_*.nii.gz``: ``img_S05.nii.gz`` and
  ``seg_S05.nii.gz``; ``*/t1.nii.gz`` and ``*/seg.nii.gz``: the files of one
  subfolder), never by position, so one missing file cannot shift every label map
  onto the wrong image. A subject's id is its image's path in the folder, less
  ``.nii[.gz]``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from regbench import Choices, Dataset, Pair, Registry, hookimpl
from regbench.data import (
    DataError,
    NiftiDataset,
    SubjectFiles,
    nifti_stem,
    require_file,
)


_WILDCARD = re.compile(r"\*|\?|\[!?+\]?+[^]]*\]")  # glob's *, ? and [...] (a "[" left open is plain text, as in fnmatch)
_SHOWN = 3  # file names an error lists before it counts the rest


def _listed(manifest: Path, name: str) -> Path:
    """A path as the manifest lists it, absolute and normalised but not resolved: a
    symbolic link keeps its own name (its subject id), not its target's."""
    return Path(os.path.normpath(os.path.abspath(manifest.parent / name)))


def _wildcard_group(wildcard: str) -> str:
    """A capturing group matching what one glob wildcard matches in a file or folder name."""
    if wildcard == "*":
        return "([^/]*)"
    if wildcard == "?":
        return "([^/])"
    body = wildcard[1:-1].replace("\\", "\\\\")
    if body.startswith("!"):  # glob's negation is the regex's "^"; a leading "^" is plain text in glob
        body = "^" + body[1:]
    elif body.startswith("^"):
        body = "\\" + body
    return f"([{body}])"


def _key_pattern(glob: str) -> re.Pattern[str]:
    """A regex for the paths ``glob`` matches (relative, with "/"), each wildcard a group:
    the groups a path gives are its key, which pairs an image with its label map. A path
    is all wildcards and fixed text, so no two files of one pattern share a key."""
    parts = []
    for part in PurePosixPath(glob).parts:
        if part == "**":  # any number of folders, as pathlib reads it
            parts.append("((?:[^/]+/)*)")
            continue
        pieces, end = [], 0
        for wildcard in _WILDCARD.finditer(part):
            pieces += [re.escape(part[end:wildcard.start()]), _wildcard_group(wildcard.group())]
            end = wildcard.end()
        parts.append("".join(pieces) + re.escape(part[end:]) + "/")
    return re.compile("".join(parts).removesuffix("/"))


def _some(paths: list[Path], root: Path) -> str:
    """A few of ``paths`` (relative to ``root``) and how many more: an error stays one line."""
    names = ", ".join(str(path.relative_to(root)) for path in paths[:_SHOWN])
    return f"{names} and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else names


class NiftiPairs(NiftiDataset):
    name = "nifti-pairs"
    description = "your NIfTI files: a CSV manifest of pairs, or a folder of images (and labels) with an atlas"
    default_options = {
        **NiftiDataset.default_options,
        "normalize": "minmax",
        "manifest": "",  # CSV: fixed, moving[, fixed_seg, moving_seg][, fixed_landmarks, moving_landmarks]
        "landmark_space": "voxel",  # voxel | world (mm, in the image's NIfTI affine): the landmark files' coordinates
        "images": "*.nii.gz",  # glob in the folder (folder form)
        "segs": "",  # glob of label maps in the folder, paired with images by what their wildcards match
        "ndim": 3,
    }
    option_rules = {"landmark_space": Choices("voxel", "world"), "ndim": Choices(2, 3)}

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
        images = self._glob(self.options["images"])
        if not self.options["segs"]:
            return [SubjectFiles(self._subject_id(image), image) for image in images]
        segs = self._glob(self.options["segs"])
        if not segs:
            raise DataError(f"{self.root}: no label maps match segs={self.options['segs']!r}; expected one per image "
                            f"(or no segs option, for images without labels)")
        label_maps = set(segs)
        return self._paired([image for image in images if image not in label_maps], segs)

    def _glob(self, pattern: str) -> list[Path]:
        return sorted(path for path in self.root.glob(pattern) if path.is_file())

    def _subject_id(self, image: Path) -> str:
        """The image's path in the folder, less ``.nii[.gz]``: its file name's stem when flat."""
        relative = image.relative_to(self.root)
        return relative.with_name(nifti_stem(relative)).as_posix()

    def _keyed(self, paths: list[Path], option: str) -> dict[tuple[str, ...], Path]:
        """``paths`` (matched by option ``option``'s glob) by their key (:func:`_key_pattern`)."""
        pattern = _key_pattern(self.options[option])
        keyed = {}
        for path in paths:
            match = pattern.fullmatch(path.relative_to(self.root).as_posix())
            if match is None:
                raise DataError(f"{path} matches {option}={self.options[option]!r}, but regbench cannot tell what its "
                                f"wildcards match, to pair it; expected *, ? and [...] within names, ** for folders")
            keyed[match.groups()] = path
        return keyed

    def _paired(self, images: list[Path], segs: list[Path]) -> list[SubjectFiles]:
        """Each image with the label map whose key is its own; any file without its
        counterpart is an error naming it."""
        images_by_key, segs_by_key = self._keyed(images, "images"), self._keyed(segs, "segs")
        lonely_images = [image for key, image in images_by_key.items() if key not in segs_by_key]
        lonely_segs = [seg for key, seg in segs_by_key.items() if key not in images_by_key]
        if lonely_images or lonely_segs:
            found = [f"{len(paths)} {what} ({_some(paths, self.root)})"
                     for paths, what in ((lonely_images, "image(s) without a label map"),
                                         (lonely_segs, "label map(s) without an image")) if paths]
            raise DataError(f"{self.root}: {' and '.join(found)}; expected each image matching "
                            f"images={self.options['images']!r} to have one label map matching "
                            f"segs={self.options['segs']!r} whose wildcards match the same text")
        return [SubjectFiles(self._subject_id(image), image, segs_by_key[key]) for key, image in images_by_key.items()]

    def _from_manifest(self, manifest: Path) -> list[SubjectFiles]:
        require_file(manifest, "nifti-pairs manifest")
        table = pd.read_csv(manifest, dtype=str).fillna("")
        missing = {"fixed", "moving"} - set(table.columns)
        if missing:
            raise DataError(f"{manifest} lacks column(s) {sorted(missing)}; expected fixed, moving[, fixed_seg, "
                            f"moving_seg][, fixed_landmarks, moving_landmarks]")
        if table.empty:
            raise DataError(f"{manifest} lists no pairs")
        subjects: dict[Path, tuple[SubjectFiles, int]] = {}  # each image's files, and the first row naming it

        def subject(image: str, seg: str, landmarks: str, row: int) -> str:
            path = _listed(manifest, image)
            seg_path = _listed(manifest, seg) if seg else None
            landmark_path = _listed(manifest, landmarks) if landmarks else None
            for listed in (path, seg_path, landmark_path):
                if listed is not None:
                    require_file(listed, f"{manifest}, row {row}")
            files = SubjectFiles(nifti_stem(path), path, seg_path, landmark_path)
            known, first_row = subjects.setdefault(path, (files, row))
            for what, mine, theirs in (("label map", known.seg, seg_path), ("landmark file", known.landmarks,
                                                                                 landmark_path)):
                if mine != theirs:  # either file would score some pairs with the wrong labels or points
                    raise DataError(f"{manifest}: image {path} has the {what} {mine or 'none'} on row {first_row} "
                                    f"but {theirs or 'none'} on row {row}; expected one {what} per image")
            return known.id

        for row, values in enumerate(table.to_dict("records"), start=2):
            fixed = subject(values["fixed"], values.get("fixed_seg", ""), values.get("fixed_landmarks", ""), row)
            moving = subject(values["moving"], values.get("moving_seg", ""), values.get("moving_landmarks", ""), row)
            self._manifest_pairs.append(Pair(fixed_id=fixed, moving_id=moving))
        return [files for files, _ in subjects.values()]

    def label_names(self) -> dict[int, str]:
        """Every label of any label map (plain NIfTI carries no names)."""
        return self.labels_in_maps()

    def shared_files(self) -> tuple[Path, ...]:
        """The manifest, when there is one (the label list is keyed as labels)."""
        manifest = (Path(self.options["manifest"]).expanduser(),) if self.options["manifest"] else ()
        return (*super().shared_files(), *manifest)

    def _read_pairs(self, path: str) -> list[Pair]:
        return super()._read_pairs(path) or self._manifest_pairs  # the manifest's rows are the pairs


@hookimpl
def regbench_register_datasets(register: Registry[Dataset]) -> None:
    register(NiftiPairs)
