"""What a run can keep besides its tables: a qualitative snapshot of one pair for the
report's figure, and, on request, every warped image, label map and field as NIfTI.

Both are observers of the runner: called with (method, pair, outcome) after each
successful registration.
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np

from regbench.dataset import Pair, Subject
from regbench.metric import PairOutcome

SNAPSHOT_FILE = "qualitative.npz"


def _middle_slice(array: np.ndarray, ndim: int) -> np.ndarray:
    """A 2D float32 view: the array itself in 2D, its middle slice along the first spatial axis in 3D."""
    return (array if ndim == 2 else array[..., array.shape[-3] // 2, :, :]).astype(np.float32)


class QualitativeSnapshot:
    """Keeps, for one pair, the fixed and moving images and each method's warped image,
    in-plane displacement and Jacobian determinant (the middle slice in 3D)."""

    def __init__(self, pair_id: str | None = None) -> None:
        self.pair_id = pair_id  # None: the first pair seen
        self.arrays: dict[str, np.ndarray] = {}

    def __call__(self, method: str, pair: Pair, outcome: PairOutcome) -> None:
        if self.pair_id is None:
            self.pair_id = pair.id
        if pair.id != self.pair_id:
            return
        ndim = outcome.displacement.shape[0]
        if not self.arrays:
            self.arrays["fixed"] = _middle_slice(outcome.fixed.image, ndim)
            self.arrays["moving"] = _middle_slice(outcome.moving.image, ndim)
        in_plane = outcome.displacement[-2:]  # the components along the two displayed axes
        self.arrays[f"warped/{method}"] = _middle_slice(outcome.warped_image, ndim)
        self.arrays[f"displacement/{method}"] = _middle_slice(in_plane, ndim)
        self.arrays[f"jacobian/{method}"] = _middle_slice(outcome.jacobian, ndim)

    def save(self, out_dir: Path) -> Path | None:
        if not self.arrays:
            return None
        path = out_dir / SNAPSHOT_FILE
        np.savez_compressed(path, pair=np.array(self.pair_id), **self.arrays)
        return path


def subject_affine(subject: Subject, spacing: tuple[float, ...]) -> np.ndarray:
    """The subject's own voxel-to-world affine, else a diagonal one from the spacing."""
    if subject.affine is not None:
        return subject.affine
    return np.diag([*spacing, *([1.0] * (4 - len(spacing)))])


class NiftiWriter:
    """Writes ``warped/<method>/<pair>_{image,seg,displacement}.nii.gz`` with the fixed
    image's affine. The displacement is a NIfTI vector image (intent "vector"), shape
    (*spatial, 1, ndim) for 3D or (H, W, 1, 1, 2) for 2D, in voxel units, pull-back."""

    def __init__(self, out_dir: Path) -> None:
        self.root = out_dir / "warped"

    def __call__(self, method: str, pair: Pair, outcome: PairOutcome) -> None:
        folder = self.root / method
        folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", pair.id)
        affine = subject_affine(outcome.fixed, outcome.spacing)
        nib.save(nib.Nifti1Image(outcome.warped_image.astype(np.float32), affine), folder / f"{stem}_image.nii.gz")
        if outcome.warped_seg is not None:
            nib.save(nib.Nifti1Image(outcome.warped_seg.astype(np.int16), affine), folder / f"{stem}_seg.nii.gz")
        field = np.moveaxis(outcome.displacement, 0, -1).astype(np.float32)
        spatial = field.shape[:-1]
        field = field.reshape(*spatial, *([1] * (4 - len(spatial))), field.shape[-1])
        image = nib.Nifti1Image(field, affine)
        image.header.set_intent("vector")
        nib.save(image, folder / f"{stem}_displacement.nii.gz")
