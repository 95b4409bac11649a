"""What a run can keep besides its tables: a qualitative snapshot of one pair for the
report's figure, and, on request, every warped image, label map and field as NIfTI.

Both are made where the method runs (see :mod:`regbench.execution.evaluation`), from the outcome
of each successful registration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from regbench.common.atomic import atomic_write
from regbench.outputs.owned import claim_files
from regbench.plugin.dataset import Pair, Subject
from regbench.plugin.metric import PairOutcome

SNAPSHOT_FILE = "qualitative.npz"


def _middle_slice(array: np.ndarray, ndim: int) -> np.ndarray:
    """A 2D float32 view: the array itself in 2D, its middle slice along the first spatial axis in 3D."""
    return (array if ndim == 2 else array[..., array.shape[-3] // 2, :, :]).astype(np.float32)


def snapshot_arrays(outcome: PairOutcome) -> dict[str, np.ndarray]:
    """What the report's qualitative figure shows of one method on one pair: the fixed
    and moving images, the warped image, the in-plane displacement and the Jacobian
    determinant (the middle slice in 3D)."""
    ndim = outcome.displacement.shape[0]
    in_plane = outcome.displacement[-2:]  # the components along the two displayed axes
    return {
        "fixed": _middle_slice(outcome.fixed.image, ndim),
        "moving": _middle_slice(outcome.moving.image, ndim),
        "warped": _middle_slice(outcome.warped_image, ndim),
        "displacement": _middle_slice(in_plane, ndim),
        "jacobian": _middle_slice(outcome.jacobian, ndim),
    }


def write_snapshot(out_dir: Path, pair_id: str, by_method: Mapping[str, Mapping[str, np.ndarray]]) -> Path | None:
    """``qualitative.npz``: the fixed and moving images once, then ``warped/<method>``,
    ``displacement/<method>`` and ``jacobian/<method>`` for each method."""
    if not by_method:
        return None
    first = next(iter(by_method.values()))
    arrays = {"fixed": first["fixed"], "moving": first["moving"]}
    for method, snapshot in by_method.items():
        for key in ("warped", "displacement", "jacobian"):
            arrays[f"{key}/{method}"] = snapshot[key]
    path = out_dir / SNAPSHOT_FILE
    atomic_write(path, lambda partial: np.savez_compressed(partial, pair=np.array(pair_id), **arrays))
    return path


def subject_affine(subject: Subject, spacing: tuple[float, ...]) -> np.ndarray:
    """The subject's own voxel-to-world affine, else a diagonal one from the spacing."""
    if subject.affine is not None:
        return subject.affine
    return np.diag([*spacing, *([1.0] * (4 - len(spacing)))])


def pair_file(folder: Path, pair: Pair, kind: str) -> Path:
    """``folder/<pair id, file-safe>_<kind>.nii.gz``."""
    return folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', pair.id)}_{kind}.nii.gz"


class NiftiWriter:
    """Writes ``<pair>_{image,seg,displacement}.nii.gz`` into one method's folder, with
    the fixed image's affine. The displacement is a NIfTI vector image (intent
    "vector"), shape (*spatial, 1, ndim) for 3D or (H, W, 1, 1, 2) for 2D, in voxel
    units, pull-back. Each file is written atomically, the displacement last."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    KINDS = ("image", "seg", "displacement")

    @classmethod
    def folder_for(cls, out_dir: Path, method: str, result_key: str, pairs: Sequence[Pair]) -> Path:
        """``OUT/warped/<method>``, claimed for ``pairs``' files under ``result_key``
        (:func:`regbench.outputs.owned.claim_files`: files it wrote under another key are
        removed, files it did not write are never touched)."""
        folder = out_dir / "warped" / method
        claim_files(folder, result_key, [pair_file(folder, pair, kind) for pair in pairs for kind in cls.KINDS])
        return folder

    def _path(self, pair: Pair, kind: str) -> Path:
        return pair_file(self.folder, pair, kind)

    def has(self, pair: Pair) -> bool:
        """Whether this pair's files are all written."""
        return self._path(pair, "displacement").is_file()

    def __call__(self, pair: Pair, outcome: PairOutcome) -> None:
        affine = subject_affine(outcome.fixed, outcome.spacing)
        save = lambda array, kind: atomic_write(  # noqa: E731
            self._path(pair, kind), lambda path: nib.save(nib.Nifti1Image(array, affine), path))
        save(outcome.warped_image.astype(np.float32), "image")
        if outcome.warped_seg is not None:
            save(outcome.warped_seg.astype(np.int16), "seg")
        field = np.moveaxis(outcome.displacement, 0, -1).astype(np.float32)
        spatial = field.shape[:-1]
        field = field.reshape(*spatial, *([1] * (4 - len(spatial))), field.shape[-1])
        image = nib.Nifti1Image(field, affine)
        image.header.set_intent("vector")
        atomic_write(self._path(pair, "displacement"), lambda path: nib.save(image, path))
