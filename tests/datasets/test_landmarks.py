"""Landmarks in the data model: files read and checked (one clear error naming the
file), moved with the image by a crop, converted from world coordinates once, paired
row by row in a manifest, checked for each pair, and scored by TRE in a run."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from regbench_datasets.nifti_pairs import NiftiPairs

from regbench import Landmarks
from regbench.cli import main
from regbench.data import DataError, read_landmarks


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_learn2reg_keypoints_are_read_as_stored(tmp_path):
    path = _csv(tmp_path / "kp.csv", ["1.5,2,3", "4,5.25,6"])
    np.testing.assert_array_equal(read_landmarks(path, (10, 10, 10)), [[1.5, 2, 3], [4, 5.25, 6]])
    with_names = _csv(tmp_path / "named.csv", ["x,y", "1,2"])
    np.testing.assert_array_equal(read_landmarks(with_names, (5, 5)), [[1, 2]])


@pytest.mark.parametrize(("rows", "message"), [
    (["1,2,3", "1,2"], "point 2: 2 column(s) (1,2); expected 3"),
    (["1,2,3", "1,a,3"], "point 2: '1,a,3' is not 3 numbers"),
    (["1,2,3", "1,2,10"], "point 2: (1.0, 2.0, 10.0) (voxels) lies outside the image of shape (10, 10, 10)"),
    (["1,2,nan"], "NaN or infinite"),
    ([""], "holds no landmarks"),
])
def test_a_bad_landmark_file_is_one_error_naming_it(tmp_path, rows, message):
    path = _csv(tmp_path / "bad.csv", rows)
    with pytest.raises(DataError, match="bad.csv") as error:
        read_landmarks(path, (10, 10, 10))
    assert message in str(error.value)


def test_world_coordinates_are_converted_with_an_oblique_anisotropic_affine(tmp_path):
    angle = np.deg2rad(30)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]) @ \
        np.diag([2.0, 0.5, 3.0])
    affine[:3, 3] = [10.0, -4.0, 7.0]
    voxels = np.array([[1.0, 2.0, 3.0], [4.5, 0.0, 2.25]])
    world = voxels @ affine[:3, :3].T + affine[:3, 3]  # by hand: A v + t
    path = _csv(tmp_path / "world.csv", [",".join(f"{value!r}" for value in point.tolist()) for point in world])
    np.testing.assert_allclose(read_landmarks(path, (8, 8, 8), affine, space="world"), voxels, atol=1e-12)


def test_a_byte_order_mark_is_not_a_header(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text("1,2,3\n4,5,6\n", encoding="utf-8-sig")  # as spreadsheet tools save CSV
    np.testing.assert_array_equal(read_landmarks(path, (10, 10, 10)), [[1, 2, 3], [4, 5, 6]])


def test_world_points_of_a_2d_slice_stored_in_3d_are_converted_in_its_plane(tmp_path):
    # A coronal slice, as mni2d's images are saved: array axis 0 -> x (mm), axis 1 -> z, the slice at y = -22.
    affine = np.array([[1.0, 0, 0, -80], [0, 0, 1, -22], [0, 1, 0, -73], [0, 0, 0, 1]])
    world = [[-70.0, -22.0, -60.0], [0.5, -22.3, 40.0]]  # by hand: voxels (10, 13) and (80.5, 113)
    path = _csv(tmp_path / "slice.csv", [",".join(map(str, point)) for point in world])
    np.testing.assert_allclose(read_landmarks(path, (160, 192), affine, space="world"), [[10, 13], [80.5, 113]])
    off = _csv(tmp_path / "off.csv", ["-70,-20,-60"])  # 2 mm behind the slice
    with pytest.raises(DataError, match=r"off.csv, point 1: .* lies 2 voxels off the plane of the 2D image"):
        read_landmarks(off, (160, 192), affine, space="world")
    singular = np.diag([1.0, 1.0, 0.0, 1.0])
    with pytest.raises(DataError, match="slice.csv: the image's affine is singular"):
        read_landmarks(path, (160, 192), singular, space="world")


@pytest.mark.parametrize(("fixed", "moving", "message"), [
    ([[1, 2]], [[1, 2], [3, 4]], "1 fixed landmarks but 2 moving ones"),
    ([[1, 2, 3]], [[1, 2, 3]], "have shape (1, 3); expected (N, 2)"),
    ([[1, 2]], [[1, 9.6]], "moving landmark 1 (1.0, 9.6) lies outside the image"),
])
def test_a_pair_s_landmarks_are_checked(fixed, moving, message):
    with pytest.raises(ValueError, match="pair X") as error:
        Landmarks(np.array(fixed, float), np.array(moving, float)).check((10, 10), (10, 10), "pair X")
    assert message in str(error.value)


def _pair_files(root: Path, shape=(12, 14, 10)) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    files = {}
    for name in ("a", "b", "c"):
        files[name] = root / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(rng.random(shape).astype(np.float32), np.diag([1.5, 1.5, 2.0, 1.0])), files[name])
    files["a_lm"] = _csv(root / "a.csv", ["2,3,4", "5,6,7"])
    files["b_lm"] = _csv(root / "b.csv", ["3,3,4", "5,8,7"])
    files["c_lm"] = _csv(root / "c.csv", ["3,3,4"])
    return files


def _manifest(root: Path, rows: list[str]) -> Path:
    return _csv(root / "pairs.csv", ["fixed,moving,fixed_landmarks,moving_landmarks", *rows])


def test_a_manifest_pairs_landmark_files_row_by_row_and_a_crop_moves_them(tmp_path):
    _pair_files(tmp_path)
    dataset = NiftiPairs(manifest=str(_manifest(tmp_path, ["a.nii.gz,b.nii.gz,a.csv,b.csv"])), shape=(10, 14, 10))
    dataset.validate()
    pair = dataset.test_pairs()[0]
    fixed, moving = dataset.load(pair.fixed_id), dataset.load(pair.moving_id)
    np.testing.assert_array_equal(fixed.landmarks, [[1, 3, 4], [4, 6, 7]])  # 12 -> 10 crops one voxel per side
    np.testing.assert_array_equal(dataset.pair_landmarks(pair, fixed, moving).moving, [[2, 3, 4], [4, 8, 7]])
    assert {path.name for path in dataset.subject_files(pair.fixed_id)} == {"a.nii.gz", "a.csv"}  # keyed by content


@pytest.mark.parametrize(("row", "message"), [
    ("a.nii.gz,c.nii.gz,a.csv,c.csv", "2 landmarks in {root}/a.csv but 1 in {root}/c.csv"),
    ("a.nii.gz,b.nii.gz,a.csv,", "'a' has landmarks ({root}/a.csv) but 'b' has none"),
])
def test_a_pair_whose_landmarks_cannot_correspond_is_refused_before_any_work(tmp_path, row, message):
    _pair_files(tmp_path)
    dataset = NiftiPairs(manifest=str(_manifest(tmp_path, [row])))
    with pytest.raises(DataError, match="pair") as error:
        dataset.validate()
    assert message.format(root=tmp_path) in str(error.value)


def test_a_run_scores_a_manifest_s_landmarks_by_tre(tmp_path):
    _pair_files(tmp_path)
    manifest = _manifest(tmp_path, ["a.nii.gz,b.nii.gz,a.csv,b.csv"])
    out = tmp_path / "out"
    code = main(["run", "--dataset", "nifti-pairs", "--dataset-option", f"manifest={manifest}", "--methods",
                 "identity", "--metrics", "tre,l2r-tre", "--out", str(out), "--no-isolation"])
    assert code == 0
    row = pd.read_csv(out / "results.csv").iloc[0]
    # identity: the points stay, so each errs by its offset to its partner, in mm (1.5 mm along axes 0 and 1)
    expected = np.array([np.hypot(1.5, 0), np.hypot(0, 2 * 1.5)])
    assert row["tre"] == pytest.approx(expected.mean())
    assert row["l2r_tre"] == pytest.approx(expected.mean())
    assert row["tre_p95"] == pytest.approx(np.percentile(expected, 95))


def test_a_named_metric_that_scores_no_pair_is_said(tmp_path, capsys):
    files = _pair_files(tmp_path)
    (tmp_path / "d.nii.gz").write_bytes(files["c"].read_bytes())
    manifest = _manifest(tmp_path, ["a.nii.gz,b.nii.gz,a.csv,b.csv", "c.nii.gz,d.nii.gz,,"])  # a pair without any
    code = main(["run", "--dataset", "nifti-pairs", "--dataset-option", f"manifest={manifest}", "--methods",
                 "identity", "--metrics", "tre,true-error", "--out", str(tmp_path / "out"), "--no-isolation"])
    error = capsys.readouterr().err
    assert code == 0, error
    assert ("metric 'tre' scored 1 of 2 pair(s): it needs landmarks, which dataset 'nifti-pairs' does not give for "
            "the others") in error
    assert "metric 'true-error' scored 0 of 2 pair(s): it needs a true field" in error
