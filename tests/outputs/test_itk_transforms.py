"""Fields as ITK transforms: ``--export itk`` / ``itk-h5`` files are applied by ANTs,
SimpleITK and nitransforms exactly as regbench warps, and ``regbench evaluate`` scores
transforms that ANTs and elastix made outside regbench as the plugins score their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import smooth_field
from paths import EXAMPLE

from regbench.cli import main
from regbench.measuring.warp import warp_labels
from regbench.outputs.transforms import (
    ItkFolder,
    TransformFolder,
    itk_grid,
    transform_files,
    xfm_labels,
    xfm_stem,
)
from regbench.plugin.dataset import Pair, Subject

ants = pytest.importorskip("ants", reason="needs antspyx: pip install 'regbench[ants]'")
sitk = pytest.importorskip("SimpleITK", reason="needs SimpleITK: pip install 'regbench[itk]'")

PAIR = Pair(fixed_id="sub_01", moving_id="sub_02")
LABELS = (1, 2, 3)


def _rotation(angles: tuple[float, ...]) -> np.ndarray:
    """A rotation of 3D space about z by ``angles[0]`` (then x by ``angles[1]``, when given)."""
    z, x = (*angles, 0.0)[:2]
    about_z = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    about_x = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    return about_z @ about_x


def oblique_affine(ndim: int, spacing: tuple[float, ...], angles: tuple[float, ...],
                   origin: tuple[float, ...]) -> np.ndarray:
    """A NIfTI affine with anisotropic voxels and rotated axes (in-plane only for 2D)."""
    affine = np.eye(4)
    rotation = _rotation(angles)[:ndim, :ndim]
    affine[:ndim, :ndim] = rotation @ np.diag(spacing)
    affine[:ndim, 3] = origin
    return affine


GEOMETRIES = {  # (fixed affine, moving affine): the moving image on another grid in the last case
    "2d-plain": (np.eye(4), np.eye(4)),
    "2d-oblique": (oblique_affine(2, (1.2, 0.8), (0.3,), (-10, 5)),) * 2,
    "3d-plain": (np.diag([-1.0, -1.0, 1.0, 1.0]), np.diag([-1.0, -1.0, 1.0, 1.0])),
    "3d-oblique": (oblique_affine(3, (1.2, 0.9, 2.0), (0.3, 0.2), (-10, 5, 3)),) * 2,
    "3d-two-grids": (oblique_affine(3, (1.2, 0.9, 2.0), (0.3, 0.2), (-10, 5, 3)),
                     oblique_affine(3, (1.0, 1.1, 1.9), (0.25, 0.1), (-9, 4, 2))),
}


def _labels(shape: tuple[int, ...]) -> np.ndarray:
    """Three nested boxes, labels 1 to 3."""
    seg = np.zeros(shape, np.int16)
    for label, margin in zip(LABELS, (3, 6, 8), strict=True):
        seg[tuple(slice(margin, size - margin + label) for size in shape)] = label
    return seg


def _case(name: str) -> tuple[Subject, Subject, np.ndarray]:
    """Fixed and moving subjects on the geometry ``name`` and a smooth field (voxels)."""
    shape = (40, 36) if name.startswith("2d") else (22, 26, 20)
    fixed_affine, moving_affine = GEOMETRIES[name]
    seg = _labels(shape)
    fixed = Subject(PAIR.fixed_id, seg.astype(np.float32), seg, fixed_affine)
    moving = Subject(PAIR.moving_id, seg.astype(np.float32), seg, moving_affine)
    return fixed, moving, smooth_field(shape, seed=len(name), max_displacement=3.0).astype(np.float32)


def _dice(a: np.ndarray, b: np.ndarray) -> list[float]:
    return [2 * np.sum((a == label) & (b == label)) / (np.sum(a == label) + np.sum(b == label)) for label in LABELS]


def _exported(tmp_path: Path, suffix: str, name: str) -> tuple[Path, Subject, Subject, np.ndarray]:
    """The case's field exported as one transform file, and its moving labels and fixed grid as NIfTI."""
    fixed, moving, field = _case(name)
    folder = ItkFolder(tmp_path / "export", xfm_labels([PAIR]), suffix)
    folder.folder.mkdir()
    folder.write(PAIR, field, fixed, moving, (1.0,) * field.shape[0])
    nib.save(nib.Nifti1Image(moving.seg, moving.affine), tmp_path / "moving_seg.nii.gz")
    nib.save(nib.Nifti1Image(fixed.seg, fixed.affine), tmp_path / "fixed_seg.nii.gz")
    return folder.path(PAIR), fixed, moving, field


@pytest.mark.parametrize("suffix", [".nii.gz", ".h5"])
@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_ants_and_simpleitk_apply_the_exported_transform_as_regbench_warps(tmp_path, suffix, name):
    path, fixed, moving, field = _exported(tmp_path, suffix, name)
    assert path.name == f"sub-sub02_from-sub02_to-sub01_mode-image_xfm{suffix}"
    by_regbench = warp_labels(moving.seg, field)
    assert min(_dice(by_regbench, moving.seg)) < 0.97  # the field moves the labels: nothing trivial passes

    fixed_grid, moving_seg = (ants.image_read(str(tmp_path / f"{image}.nii.gz")) for image in ("fixed_seg",
                                                                                                  "moving_seg"))
    by_ants = ants.apply_transforms(fixed_grid, moving_seg, [str(path)], interpolator="nearestNeighbor").numpy()
    reference, labels = (sitk.ReadImage(str(tmp_path / f"{image}.nii.gz")) for image in ("fixed_seg", "moving_seg"))
    transform = (sitk.ReadTransform(str(path)) if suffix == ".h5" else
                 sitk.DisplacementFieldTransform(sitk.ReadImage(str(path), sitk.sitkVectorFloat64)))
    resampled = sitk.Resample(labels, reference, transform, sitk.sitkNearestNeighbor, 0)
    by_simpleitk = sitk.GetArrayFromImage(resampled).transpose()  # SimpleITK's arrays run (z, y, x)
    assert _dice(by_ants, by_regbench) == [1.0] * len(LABELS)
    assert _dice(by_simpleitk, by_regbench) == [1.0] * len(LABELS)


@pytest.mark.parametrize("name", ["3d-oblique", "3d-two-grids"])
def test_nitransforms_applies_the_exported_warp_as_regbench_warps(tmp_path, name):
    pytest.importorskip("nitransforms")  # 3D only: it reads no 2D warp
    from nitransforms.io.itk import ITKDisplacementsField  # noqa: PLC0415
    from nitransforms.nonlinear import DenseFieldTransform  # noqa: PLC0415
    from nitransforms.resampling import apply  # noqa: PLC0415

    path, _, moving, field = _exported(tmp_path, ".nii.gz", name)
    transform = DenseFieldTransform(ITKDisplacementsField.from_filename(path),
                                    reference=str(tmp_path / "fixed_seg.nii.gz"))
    resampled = apply(transform, str(tmp_path / "moving_seg.nii.gz"), order=0)
    assert _dice(np.asanyarray(resampled.dataobj), warp_labels(moving.seg, field)) == [1.0] * len(LABELS)


@pytest.mark.parametrize("suffix", [".nii.gz", ".h5"])
@pytest.mark.parametrize("name", ["2d-oblique", "3d-two-grids"])
def test_an_exported_transform_reads_back_as_the_field(tmp_path, suffix, name):
    path, fixed, moving, field = _exported(tmp_path, suffix, name)
    read = TransformFolder(path.parent, xfm_labels([PAIR])).read(PAIR, fixed, moving, (1.0,) * field.shape[0])
    np.testing.assert_allclose(read, field, atol=1e-4)  # float32 millimetres, back to voxels


def test_a_warp_made_on_other_coordinates_is_refused_and_one_at_half_resolution_read(tmp_path):
    fixed, moving, _ = _case("3d-oblique")
    shape, labels = fixed.image.shape, xfm_labels([PAIR])
    shift = np.full((3, *shape), 1.5, dtype=np.float32)  # voxels, along every axis
    # The images handed to ANTs without their affines (ants.from_numpy: LPS identity).
    numpy_grid = Subject(fixed.id, fixed.image, fixed.seg, np.diag([-1.0, -1.0, 1.0, 1.0]))
    ItkFolder(tmp_path / "elsewhere", labels).folder.mkdir()
    ItkFolder(tmp_path / "elsewhere", labels).write(PAIR, shift, numpy_grid, numpy_grid, (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="covers another region of space than the fixed image"):
        TransformFolder(tmp_path / "elsewhere", labels).read(PAIR, fixed, moving, (1.0, 1.0, 1.0))

    # The same region at half the resolution (voxels twice as large, the first one's centre
    # half a fixed voxel in): ANTs interpolates it onto the fixed grid.
    half = fixed.affine @ np.diag([2.0, 2.0, 2.0, 1.0])
    half[:3, 3] = fixed.affine[:3, :3] @ np.full(3, 0.5) + fixed.affine[:3, 3]
    coarse = Subject(fixed.id, fixed.image[::2, ::2, ::2], None, half)
    field = np.full((3, *coarse.image.shape), 0.75, dtype=np.float32)  # 1.5 fixed voxels in coarse ones
    ItkFolder(tmp_path / "half", labels).folder.mkdir()
    ItkFolder(tmp_path / "half", labels).write(PAIR, field, coarse, coarse, (1.0, 1.0, 1.0))
    read = TransformFolder(tmp_path / "half", labels).read(PAIR, fixed, moving, (1.0, 1.0, 1.0))
    np.testing.assert_allclose(read[:, 2:-2, 2:-2, 2:-2], 1.5, atol=1e-4)  # inside: outside, ANTs sees no field


def test_itk_grid_is_the_one_itk_reads_from_the_nifti(tmp_path):
    for name in GEOMETRIES:
        fixed, _, _ = _case(name)
        nib.save(nib.Nifti1Image(fixed.image, fixed.affine), tmp_path / "image.nii.gz")
        image = ants.image_read(str(tmp_path / "image.nii.gz"))
        origin, spacing, direction = itk_grid(fixed.affine, fixed.image.ndim)
        np.testing.assert_allclose(origin, image.origin, atol=1e-5)
        np.testing.assert_allclose(spacing, image.spacing, atol=1e-5)
        np.testing.assert_allclose(direction, image.direction, atol=1e-5)


def test_transform_files_follow_ants_order_and_refuse_ambiguity(tmp_path):
    stem = xfm_stem(xfm_labels([PAIR]), PAIR)
    assert transform_files(tmp_path, stem) == []
    for name in ("_0GenericAffine.mat", "_1Warp.nii.gz", "_1InverseWarp.nii.gz"):
        (tmp_path / f"{stem}{name}").touch()
    # antsRegistration's forward transforms, as ants.apply_transforms takes them: the warp first
    assert [path.name[len(stem):] for path in transform_files(tmp_path, stem)] == ["_1Warp.nii.gz",
                                                                                 "_0GenericAffine.mat"]
    (tmp_path / f"{stem}.h5").touch()
    with pytest.raises(ValueError, match="several transforms for one pair"):
        transform_files(tmp_path, stem)


def test_subject_ids_that_become_one_label_are_refused():
    with pytest.raises(ValueError, match="'a-1' and 'a_1' both become 'a1'"):
        xfm_labels([Pair("a_1", "b"), Pair("a-1", "b")])


def test_elastix_transform_parameters_read_as_transformix_maps_them(tmp_path):
    itk = pytest.importorskip("itk", reason="needs itk-elastix: pip install 'regbench[elastix]'")
    fixed, moving, _ = _case("3d-oblique")
    nib.save(nib.Nifti1Image(fixed.image, fixed.affine), tmp_path / "fixed.nii.gz")
    shifted = np.roll(fixed.image, 2, axis=0)
    nib.save(nib.Nifti1Image(shifted, fixed.affine), tmp_path / "moving.nii.gz")
    # elastix itself writes the parameter file, the fixed image's grid (oblique) in its own convention
    parameters = itk.ParameterObject.New()
    translation = parameters.GetDefaultParameterMap("translation")
    translation["MaximumNumberOfIterations"] = ["30"]
    parameters.AddParameterMap(translation)
    _, result = itk.elastix_registration_method(
        itk.imread(str(tmp_path / "fixed.nii.gz"), itk.F), itk.imread(str(tmp_path / "moving.nii.gz"), itk.F),
        parameter_object=parameters, log_to_console=False, output_directory=str(tmp_path))
    stem = xfm_stem(xfm_labels([PAIR]), PAIR)
    (tmp_path / "elastix").mkdir()
    result.WriteParameterFile(str(tmp_path / "elastix" / f"{stem}.txt"))
    shift = np.array([float(value) for value in result.GetParameter(0, "TransformParameters")])  # LPS mm

    field = TransformFolder(tmp_path / "elastix", xfm_labels([PAIR])).read(PAIR, fixed, moving, (1.0, 1.0, 1.0))
    expected = np.linalg.solve(fixed.affine[:3, :3], np.array([-1.0, -1.0, 1.0]) * shift)  # LPS mm -> voxels
    np.testing.assert_allclose(field, np.broadcast_to(expected[:, None, None, None], field.shape), atol=1e-4)
    assert abs(expected[0] - 2.0) < 0.5  # elastix found the 2-voxel shift along the first axis

    moved = Subject(moving.id, moving.image, moving.seg, np.diag([1.0, 1.0, 1.0, 1.0]))  # another grid than the file's
    with pytest.raises(ValueError, match="the transform's Origin is"):
        TransformFolder(tmp_path / "elastix", xfm_labels([PAIR])).read(PAIR, moved, moving, (1.0, 1.0, 1.0))


# --- end to end: run --export itk, evaluate, and ANTs outside regbench ------------------------------------

SYNTHETIC = ["--dataset", "synthetic", "--dataset-option", "shape=40,36", "--dataset-option", "n_subjects=16",
             "--max-pairs", "3", "--no-progress"]
METRIC_COLUMNS = ["dice_mean", "dice_std", "hd95_mean", "folding_percent", "sdlogj", "l2r_dice_mean", "mse"]


def test_run_export_itk_and_evaluate_round_trip_reproduces_the_run(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    run, exported, evaluated, again = (tmp_path / name for name in ("run", "itk", "evaluated", "again"))
    assert main(["-p", "regbench_demons", "run", "--methods", "demons", *SYNTHETIC, "--out", str(run),
                 "--export", "itk", str(exported)]) == 0
    files = sorted(path.name for path in (exported / "demons").glob("*_xfm.nii.gz"))
    assert len(files) == 3 and all(name.startswith("sub-synthetic") for name in files)
    # evaluate reads the transforms and writes them again as .h5 (never into the folder it reads)
    assert main(["evaluate", str(exported / "demons"), *SYNTHETIC, "--out", str(evaluated),
                 "--export", "itk", str(exported)]) == 2
    assert main(["evaluate", str(exported / "demons"), *SYNTHETIC, "--out", str(evaluated),
                 "--export", "itk-h5", str(tmp_path / "h5")]) == 0
    assert len(list((tmp_path / "h5" / "demons").glob("*_xfm.h5"))) == 3
    assert main(["evaluate", str(tmp_path / "h5" / "demons"), *SYNTHETIC, "--out", str(again)]) == 0
    # Exported again after one source field went bad: its pair fails, and its old export goes with it.
    broken = sorted((exported / "demons").glob("*_xfm.nii.gz"))[0]
    broken.write_bytes(b"not a NIfTI file")
    assert main(["evaluate", str(exported / "demons"), *SYNTHETIC, "--out", str(tmp_path / "broken"),
                 "--export", "itk-h5", str(tmp_path / "h5")]) == 5  # PAIRS_FAILED
    assert len(list((tmp_path / "h5" / "demons").glob("*_xfm.h5"))) == 2

    ran, *scored = (pd.read_csv(folder / "results.csv").set_index(["method", "pair"])
                    for folder in (run, evaluated, again))
    for table in scored:
        pd.testing.assert_frame_equal(table.loc[ran.index, METRIC_COLUMNS], ran[METRIC_COLUMNS], atol=1e-4)


def test_export_itk_h5_without_simpleitk_is_a_usage_error_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # as if not installed: importing it fails
    assert main(["run", "--methods", "identity", *SYNTHETIC, "--out", str(tmp_path / "out"),
                 "--export", "itk-h5", str(tmp_path / "h5")]) == 2
    assert "needs SimpleITK: pip install 'regbench[itk]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "h5").exists()


def _nifti_pairs(root: Path, n: int = 3) -> Path:
    """A nifti-pairs manifest: subject 0 the fixed image of pairs (0, 1) and (0, 2), 3D
    images whose affine ITK reads as ants.from_numpy makes images (LPS identity)."""
    from layouts import subjects  # noqa: PLC0415

    lps_identity = np.diag([-1.0, -1.0, 1.0, 1.0])
    for i, subject in enumerate(subjects((28, 30, 26), n)):
        nib.save(nib.Nifti1Image(subject.image.astype(np.float32), lps_identity), root / f"img{i}.nii.gz")
        nib.save(nib.Nifti1Image(subject.seg.astype(np.int16), lps_identity), root / f"seg{i}.nii.gz")
    manifest = root / "pairs.csv"
    manifest.write_text("fixed,moving,fixed_seg,moving_seg\n" + "".join(
        f"img0.nii.gz,img{i}.nii.gz,seg0.nii.gz,seg{i}.nii.gz\n" for i in range(1, n)))
    return manifest


# A researcher's own registration script, run as its own process: ANTs on the dataset's files
# with the plugin's settings (SyN, one ITK thread, ANTS_RANDOM_SEED from regbench's seed 0),
# each pair's outputs under the name regbench reads (antsRegistration -o <stem>_).
OUTSIDE_SCRIPT = """
import sys, ants
root, folder = sys.argv[1], sys.argv[2]
for fixed, moving, stem in zip(*(argument.split(",") for argument in sys.argv[3:6])):
    ants.registration(ants.image_read(f"{root}/{fixed}.nii.gz"), ants.image_read(f"{root}/{moving}.nii.gz"),
                      type_of_transform="SyN", outprefix=f"{folder}/{stem}_")
"""


@pytest.mark.ants
def test_ants_transforms_made_outside_regbench_score_as_the_ants_syn_plugin(tmp_path):
    from regbench_methods.ants import ants_seed  # noqa: PLC0415 - how the plugin seeds ANTs

    manifest = _nifti_pairs(tmp_path)
    dataset = ["--dataset", "nifti-pairs", "--dataset-option", f"manifest={manifest}", "--dataset-option",
               "normalize=none", "--no-progress"]
    assert main(["run", "--methods", "ants-syn", "--seed", "0", *dataset, "--out", str(tmp_path / "run")]) == 0
    ran = pd.read_csv(tmp_path / "run" / "results.csv").set_index("pair")

    folder = tmp_path / "by-hand"
    folder.mkdir()
    stems = [xfm_stem(xfm_labels([Pair(fixed, moving)]), Pair(fixed, moving))
             for fixed, moving in zip(ran["fixed"], ran["moving"], strict=True)]
    environment = {**os.environ, "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1", "ANTS_RANDOM_SEED": str(ants_seed(0))}
    subprocess.run([sys.executable, "-c", OUTSIDE_SCRIPT, str(tmp_path), str(folder), ",".join(ran["fixed"]),
                    ",".join(ran["moving"]), ",".join(stems)], check=True, env=environment)
    assert len(list(folder.glob("*_1Warp.nii.gz"))) == len(list(folder.glob("*_0GenericAffine.mat"))) == len(ran)
    assert main(["evaluate", str(folder), *dataset, "--out", str(tmp_path / "scored")]) == 0
    scored = pd.read_csv(tmp_path / "scored" / "results.csv").set_index("pair")
    assert (scored["status"] == "ok").all()
    pd.testing.assert_frame_equal(scored.loc[ran.index, METRIC_COLUMNS], ran[METRIC_COLUMNS], atol=1e-4)
