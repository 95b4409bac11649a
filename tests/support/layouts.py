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
    others = (dataset.load(sid) for sid in sorted(dataset.train_ids + dataset.test_ids))
    return [dataset.load(dataset.atlas_id), *others][:n]


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


# --- Learn2Reg NLST: lung CT pairs of one patient, with keypoints ---------------------------

NLST_SPACING = 1.5


def nlst_true_field(shape: tuple[int, ...], case: int) -> np.ndarray:
    """Case ``case``'s true field (3, *shape), voxels, pulling back: ``fixed(x) =
    moving(x + u(x))``, so a fixed keypoint ``f`` is the moving keypoint ``f + u(f)``.
    A translation and a smooth breathing-like wave, at most about 2 voxels, known exactly
    at every point (:func:`nlst_displacement`)."""
    grid = np.stack(np.meshgrid(*(np.arange(size, dtype=np.float64) for size in shape), indexing="ij"))
    return nlst_displacement(grid, shape, case)


def nlst_displacement(points: np.ndarray, shape: tuple[int, ...], case: int) -> np.ndarray:
    """The true field of case ``case`` at ``points`` (3, ...), voxel coordinates."""
    shift = np.array([0.6, -0.8, 0.4]) * (1 + case % 3) / 2
    wave = [np.sin(2 * np.pi * points[(axis + 1) % 3] / shape[(axis + 1) % 3]) for axis in range(3)]
    return np.stack([shift[axis] + 0.7 * wave[axis] for axis in range(3)])


def nlst_anatomy(points: np.ndarray, shape: tuple[int, ...], case: int) -> tuple[np.ndarray, np.ndarray]:
    """A chest-like CT (HU) and its lung mask at ``points`` (3, ...), voxel coordinates:
    air around a body of soft tissue, two lungs, bright vessels in them."""
    centre = (np.asarray(shape, dtype=np.float64) - 1) / 2
    relative = [(points[axis] - centre[axis]) / (shape[axis] / 2) for axis in range(3)]
    body = relative[0] ** 2 / 0.85 + relative[1] ** 2 / 0.7 + relative[2] ** 2 / 0.95 < 1
    lungs = np.zeros(points.shape[1:], bool)
    for side in (-1, 1):
        lungs |= (relative[0] - side * 0.4) ** 2 / 0.09 + relative[1] ** 2 / 0.3 + relative[2] ** 2 / 0.55 < 1
    lungs &= body
    image = np.where(body, 40.0, -1000.0)
    image = np.where(lungs, -850.0, image)
    rng = np.random.default_rng(case)
    for _ in range(6):  # vessels: smooth blobs, the structure a registration follows
        where = rng.uniform(0.2, 0.8, 3) * (np.asarray(shape) - 1)
        distance = sum((points[axis] - where[axis]) ** 2 for axis in range(3))
        image += 800.0 * np.exp(-distance / 2.0) * lungs
    return image.astype(np.float32), lungs.astype(np.uint8)


def nlst_keypoints(shape: tuple[int, ...], case: int, count: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Case ``case``'s keypoints (fixed, moving), (count, 3) voxel coordinates: the fixed
    ones at whole voxels well inside the image, the moving ones where the true field
    carries them (``m = f + u(f)``)."""
    rng = np.random.default_rng(1000 + case)
    fixed = np.stack([rng.integers(3, size - 3, count) for size in shape], axis=1).astype(np.float64)
    moving = fixed + nlst_displacement(fixed.T, shape, case).T
    return fixed, moving


def write_l2r_nlst(root: Path, train_cases: int = 2, val_cases: int = 2, shape: tuple[int, ...] = (20, 16, 18),
                   listed_keypoints: bool = True) -> Path:
    """NLST_dataset.json with imagesTr/, keypointsTr/ and masksTr/, as Learn2Reg's NLST:
    cases 0001... train, cases 0101... are the registration_val pairs; each case is a
    fixed image NLST_NNNN_0000 and a moving one NLST_NNNN_0001 (:func:`nlst_true_field`
    relates them), at 1.5 mm. ``listed_keypoints``: the training entries name their
    keypoints and masks; without, the files are found where the challenge looks."""
    cases = [*range(1, train_cases + 1), *range(101, 101 + val_cases)]
    entries, paired = [], []
    grid = np.stack(np.meshgrid(*(np.arange(size, dtype=np.float64) for size in shape), indexing="ij"))
    for case in cases:
        moving, moving_mask = nlst_anatomy(grid, shape, case)
        fixed, fixed_mask = nlst_anatomy(grid + nlst_true_field(shape, case), shape, case)
        points = nlst_keypoints(shape, case)
        names = {}
        for image_number, image, mask, keypoints in ((0, fixed, fixed_mask, points[0]),
                                                     (1, moving, moving_mask, points[1])):
            stem = f"NLST_{case:04d}_{image_number:04d}"
            save(image, root / "imagesTr" / f"{stem}.nii.gz", spacing=NLST_SPACING)
            save(mask, root / "masksTr" / f"{stem}.nii.gz", spacing=NLST_SPACING)
            (root / "keypointsTr").mkdir(parents=True, exist_ok=True)
            np.savetxt(root / "keypointsTr" / f"{stem}.csv", keypoints, delimiter=",", fmt="%.6f")
            entry = {"image": f"./imagesTr/{stem}.nii.gz"}
            if listed_keypoints:
                entry |= {"keypoints": f"./keypointsTr/{stem}.csv", "mask": f"./masksTr/{stem}.nii.gz"}
            entries.append(entry)
            names["fixed" if image_number == 0 else "moving"] = entry["image"]
        paired.append(names)
    description = {"name": "NLST", "tensorImageShape": {"0": list(shape)}, "numTraining": len(entries),
                   "numPairedTraining": train_cases, "training": entries,
                   "training_paired_images": paired[:train_cases], "registration_val": paired[train_cases:]}
    (root / "NLST_dataset.json").write_text(json.dumps(description, indent=1))
    return root
