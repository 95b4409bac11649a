"""Tiny datasets written in the exact folder layouts users bring (neurite-OASIS,
Learn2Reg, NIfTI pairs), made from the synthetic dataset's subjects."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from regbench_datasets.synthetic import Synthetic

FREESURFER_NAMES = ["Left-Cerebral-White-Matter", "Left-Cerebral-Cortex", "Left-Lateral-Ventricle", "Left-Thalamus"]


def write_label_table(path: Path, n_labels: int = 4) -> None:
    """A FreeSurfer-style lookup table: '#' comments, then 'ID NAME R G B A'."""
    lines = ["#No. Label Name:                R   G   B   A", "  0  Unknown                      0   0   0   0"]
    lines += [f"{i:3d}  {FREESURFER_NAMES[i - 1]:<28} {20 * i:3d} {10 * i:3d} 200   0" for i in range(1, n_labels + 1)]
    path.write_text("\n".join(lines) + "\n")


def subjects(shape: tuple[int, ...], n: int, seed: int = 0):
    dataset = Synthetic(shape=shape, n_subjects=n, seed=seed)
    return [dataset.load(dataset.atlas_id), *(dataset.load(sid) for sid in sorted(dataset.train_ids + dataset.test_ids))][:n]


def save(array: np.ndarray, path: Path, spacing: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.diag([spacing, spacing, spacing, 1.0])), path)
    return path


def neurite_oasis(root: Path, ndim: int, n: int = 8, shape: tuple[int, ...] | None = None) -> Path:
    """subjects.txt, seg*_labels.txt and one folder per subject, as neurite-OASIS v1.0."""
    shape = shape or ((32, 32) if ndim == 2 else (32, 32, 32))
    names = [f"OASIS_OAS1_{i + 1:04d}_MR1" for i in range(n)]
    for name, subject in zip(names, subjects(shape, n)):
        if ndim == 2:  # stored as 160x192x1 in the release
            save(subject.image[..., None], root / name / "slice_norm.nii.gz")
            save(subject.seg[..., None].astype(np.int16), root / name / "slice_seg24.nii.gz")
            save(np.minimum(subject.seg, 4)[..., None].astype(np.int16), root / name / "slice_seg4.nii.gz")
        else:
            save(subject.image, root / name / "aligned_norm.nii.gz")
            save(subject.seg.astype(np.int16), root / name / "aligned_seg35.nii.gz")
            save(np.minimum(subject.seg, 4).astype(np.int16), root / name / "aligned_seg4.nii.gz")
    (root / "subjects.txt").write_text("\n".join(names) + "\n")
    for seg in (4, 24, 35):
        write_label_table(root / f"seg{seg}_labels.txt")
    return root


def learn2reg_oasis(root: Path, n: int = 8, shape: tuple[int, ...] = (32, 32, 32)) -> Path:
    """OASIS_dataset.json with imagesTr/ and labelsTr/, the last four subjects in two val pairs."""
    entries = []
    for i, subject in enumerate(subjects(shape, n), start=1):
        image = save(subject.image, root / "imagesTr" / f"OASIS_{i:04d}_0000.nii.gz")
        label = save(subject.seg.astype(np.int16), root / "labelsTr" / f"OASIS_{i:04d}_0000.nii.gz")
        entries.append({"image": f"./imagesTr/{image.name}", "label": f"./labelsTr/{label.name}"})
    val = [{"fixed": entries[n - 4]["image"], "moving": entries[n - 3]["image"]},
           {"fixed": entries[n - 2]["image"], "moving": entries[n - 1]["image"]}]
    description = {"name": "OASIS", "tensorImageShape": {"0": list(shape)}, "numTraining": n,
                   "training": entries, "registration_val": val}
    (root / "OASIS_dataset.json").write_text(json.dumps(description, indent=1))
    return root


def nifti_folder(root: Path, n: int = 6, shape: tuple[int, ...] = (32, 32, 32)) -> Path:
    """Plain files: img_XX.nii.gz and seg_XX.nii.gz."""
    for i, subject in enumerate(subjects(shape, n)):
        save(subject.image * 400 + 20, root / f"img_{i:02d}.nii.gz")  # raw scanner-like intensities
        save(subject.seg.astype(np.int16), root / f"seg_{i:02d}.nii.gz")
    return root


def nifti_manifest(root: Path) -> Path:
    """A CSV of two pairs over files in ``nifti_folder`` form, with relative paths."""
    nifti_folder(root / "data", n=4)
    manifest = root / "pairs.csv"
    rows = ["fixed,moving,fixed_seg,moving_seg"]
    for fixed, moving in ((0, 1), (0, 2)):
        rows.append(f"data/img_{fixed:02d}.nii.gz,data/img_{moving:02d}.nii.gz,"
                    f"data/seg_{fixed:02d}.nii.gz,data/seg_{moving:02d}.nii.gz")
    manifest.write_text("\n".join(rows) + "\n")
    return manifest
