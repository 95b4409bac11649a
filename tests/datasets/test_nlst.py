"""``l2r-nlst``, the Learn2Reg NLST layout: lung CT pairs of one patient, no label maps,
scored at their keypoints by TRE; a bad keypoint file is one error naming it; fields
leave and enter regbench under the challenge's names (``disp_0101_0101.nii.gz``)."""

from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from layouts import NLST_SPACING, nlst_anatomy, nlst_keypoints, nlst_true_field, write_l2r_nlst
from regbench_datasets.nlst import L2rNlst

from regbench.cli import main
from regbench.data import DataError
from regbench.outputs.fields import L2rFolder, case_names
from regbench.plugin.dataset import Pair

SHAPE = (20, 16, 18)
VAL_PAIRS = [Pair("NLST_0101_0000", "NLST_0101_0001"), Pair("NLST_0102_0000", "NLST_0102_0001")]
TRE_COLUMNS = ["tre", "tre_std", "tre_p95", "l2r_tre"]


@pytest.fixture
def root(tmp_path):
    return write_l2r_nlst(tmp_path / "NLST", shape=SHAPE)


def initial_tre(root, case: int) -> np.ndarray:
    """Each keypoint's distance in mm before registration, |m - f| (a zero field's TRE),
    from the keypoint files as written."""
    fixed, moving = (np.loadtxt(root / "keypointsTr" / f"NLST_{case:04d}_{image:04d}.csv", delimiter=",")
                     for image in (0, 1))
    return np.linalg.norm((moving - fixed) * NLST_SPACING, axis=1)


# --- the layout -----------------------------------------------------------------------------

@pytest.mark.parametrize("listed_keypoints", [True, False],
                         ids=["keypoints-listed", "keypoints-where-the-challenge-looks"])
def test_the_layout_loads_with_its_keypoints(tmp_path, listed_keypoints):
    root = write_l2r_nlst(tmp_path / "NLST", shape=SHAPE, listed_keypoints=listed_keypoints)
    dataset = L2rNlst(data_dir=str(root))
    dataset.validate()
    assert dataset.test_pairs() == VAL_PAIRS
    assert dataset.atlas_id is None
    assert dataset.test_ids == ("NLST_0101_0000", "NLST_0101_0001", "NLST_0102_0000", "NLST_0102_0001")
    assert dataset.train_ids == ("NLST_0001_0000", "NLST_0001_0001", "NLST_0002_0000", "NLST_0002_0001")
    assert dict(dataset.labels) == {}
    assert dataset.spacing == (NLST_SPACING,) * 3
    for case in (1, 2, 101, 102):
        fixed_points, moving_points = nlst_keypoints(SHAPE, case)
        fixed, moving = dataset.load(f"NLST_{case:04d}_0000"), dataset.load(f"NLST_{case:04d}_0001")
        assert fixed.image.shape == moving.image.shape == SHAPE and fixed.seg is None and moving.seg is None
        assert fixed.landmarks.shape == moving.landmarks.shape == (12, 3)
        np.testing.assert_allclose(fixed.landmarks, fixed_points, rtol=0, atol=1e-6)
        np.testing.assert_allclose(moving.landmarks, moving_points, rtol=0, atol=1e-6)
    # A result is keyed by the files it read: the image and its keypoints, and the description.
    assert dataset.subject_files("NLST_0101_0001") == (root / "imagesTr" / "NLST_0101_0001.nii.gz",
                                                       root / "keypointsTr" / "NLST_0101_0001.csv")
    assert dataset.shared_files() == (root / "NLST_dataset.json",)


def test_the_keypoints_follow_the_true_field(root):
    """The fixture is what the end-to-end numbers rest on: the moving image at f + u(f) is
    the fixed image at f, and the keypoints are f and f + u(f)."""
    dataset = L2rNlst(data_dir=str(root))
    fixed, moving = dataset.load("NLST_0101_0000"), dataset.load("NLST_0101_0001")
    field = nlst_true_field(SHAPE, 101)
    points = fixed.landmarks.T.astype(int)
    np.testing.assert_allclose(moving.landmarks.T - fixed.landmarks.T, field[(slice(None), *points)], atol=1e-6)
    assert 0.5 < np.abs(field).max() < 3  # a real displacement, well inside the image
    # ... and the images were made so: the fixed image is the moving anatomy seen through the field, and the
    # moving image is that anatomy itself (read as stored, without the default intensity normalisation).
    stored = L2rNlst(data_dir=str(root), normalize="none")
    grid = np.stack(np.meshgrid(*(np.arange(size, dtype=np.float64) for size in SHAPE), indexing="ij"))
    np.testing.assert_allclose(stored.load("NLST_0101_0000").image, nlst_anatomy(grid + field, SHAPE, 101)[0])
    np.testing.assert_allclose(stored.load("NLST_0101_0001").image, nlst_anatomy(grid, SHAPE, 101)[0])


def test_validation_images_the_training_list_leaves_out_are_subjects(root):
    path = root / "NLST_dataset.json"
    description = json.loads(path.read_text())
    description["training"] = [entry for entry in description["training"] if "_01" not in entry["image"]]
    path.write_text(json.dumps(description))
    dataset = L2rNlst(data_dir=str(root))
    assert dataset.test_pairs() == VAL_PAIRS
    assert dataset.load("NLST_0102_0001").landmarks.shape == (12, 3)


def test_training_images_may_lack_keypoints_validation_images_may_not(tmp_path):
    root = write_l2r_nlst(tmp_path / "NLST", shape=SHAPE, listed_keypoints=False)
    (root / "keypointsTr" / "NLST_0001_0001.csv").unlink()
    dataset = L2rNlst(data_dir=str(root))
    assert dataset.load("NLST_0001_0001").landmarks is None
    missing = root / "keypointsTr" / "NLST_0102_0000.csv"
    missing.unlink()
    with pytest.raises(DataError, match=rf"registration_val image .*NLST_0102_0000.nii.gz has no keypoints: "
                                        rf"{re.escape(str(missing))} does not exist"):
        L2rNlst(data_dir=str(root))


def test_a_keypoint_file_the_description_names_must_exist(root):
    missing = root / "keypointsTr" / "NLST_0002_0000.csv"
    missing.unlink()
    with pytest.raises(DataError, match=rf"entry './keypointsTr/NLST_0002_0000.csv': file {re.escape(str(missing))} "
                                        r"does not exist"):
        L2rNlst(data_dir=str(root))


# --- bad keypoint files: one error naming the file ------------------------------------------

def rewrite(path, points):
    np.savetxt(path, points, delimiter=",", fmt="%.6f")


@pytest.mark.parametrize("case", [2, 101], ids=["training-image", "validation-image"])
def test_a_keypoint_file_with_two_columns(root, case):
    path = root / "keypointsTr" / f"NLST_{case:04d}_0001.csv"
    rewrite(path, nlst_keypoints(SHAPE, case)[1][:, :2])
    with pytest.raises(DataError) as error:
        L2rNlst(data_dir=str(root)).validate()
    assert str(error.value).startswith(f"{path}, point 1: 2 column(s)")
    assert "expected 3 comma-separated coordinates, one per image axis" in str(error.value)


def test_a_keypoint_outside_the_image(root):
    path = root / "keypointsTr" / "NLST_0101_0000.csv"
    points = nlst_keypoints(SHAPE, 101)[0]
    points[4] = [5.0, 16.2, 3.0]  # axis 1 has 16 voxels: up to 15.5
    rewrite(path, points)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}, point 5: \(5.0, 16.2, 3.0\) \(voxels\) lies "
                                        r"outside the image of shape \(20, 16, 18\)"):
        L2rNlst(data_dir=str(root)).validate()


def test_fixed_and_moving_keypoints_of_a_pair_differ_in_number(root):
    moving = root / "keypointsTr" / "NLST_0102_0001.csv"
    rewrite(moving, nlst_keypoints(SHAPE, 102)[1][:11])
    fixed = root / "keypointsTr" / "NLST_0102_0000.csv"
    with pytest.raises(DataError, match=rf"pair NLST_0102_0001->NLST_0102_0000: 12 landmarks in "
                                        rf"{re.escape(str(fixed))} but 11 in {re.escape(str(moving))}; expected the "
                                        r"same points in both"):
        L2rNlst(data_dir=str(root)).validate()


def test_a_bad_keypoint_file_stops_the_run_naming_it(root, tmp_path, capsys):
    path = root / "keypointsTr" / "NLST_0101_0001.csv"
    path.write_text("1.0,2.0,3.0\n4.0,five,6.0\n")
    code = main(["run", "--dataset", "l2r-nlst", "--data-dir", str(root), "--methods", "identity", "--no-progress",
                 "--no-isolation", "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2, error
    assert f"{path}, point 2: '4.0,five,6.0' is not 3 numbers" in error
    assert not (tmp_path / "out" / "results.csv").exists()


# --- fields under Learn2Reg's names ---------------------------------------------------------

def test_both_images_of_a_case_name_its_field_file(root, tmp_path):
    names = case_names(L2rNlst(data_dir=str(root)).test_pairs())
    assert names == {"NLST_0101_0000": "0101", "NLST_0101_0001": "0101",
                     "NLST_0102_0000": "0102", "NLST_0102_0001": "0102"}
    folder = L2rFolder(tmp_path, names)
    assert [folder.path(pair).name for pair in VAL_PAIRS] == ["disp_0101_0101.nii.gz", "disp_0102_0102.nii.gz"]


# --- end to end: run, export, evaluate ------------------------------------------------------

def test_a_run_scores_the_pairs_by_tre_and_exports_challenge_names(root, tmp_path):
    out, exported = tmp_path / "out", tmp_path / "l2r"
    code = main(["run", "--dataset", "l2r-nlst", "--data-dir", str(root), "--methods", "identity",
                 "--metrics", "tre,l2r-tre,jacobian", "--no-progress", "--no-isolation", "--out", str(out),
                 "--export", "l2r", str(exported)])
    assert code == 0
    results = pd.read_csv(out / "results.csv").set_index("pair")
    assert (results["status"] == "ok").all()
    assert list(results.index) == [pair.id for pair in VAL_PAIRS]
    assert "dice_mean" not in results  # no label maps, no Dice
    for pair, case in zip(VAL_PAIRS, (101, 102), strict=True):  # identity: TRE is the keypoints' first distance
        errors = initial_tre(root, case)
        row = results.loc[pair.id]
        np.testing.assert_allclose(row[["tre", "l2r_tre"]].astype(float), [errors.mean()] * 2, rtol=0, atol=1e-9)
        np.testing.assert_allclose(row["tre_std"], errors.std(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(row["tre_p95"], np.percentile(errors, 95), rtol=0, atol=1e-9)
        assert row["tre"] > 1.0  # the cases do move
    assert sorted(path.name for path in (exported / "identity").glob("disp_*.nii.gz")) == [
        "disp_0101_0101.nii.gz", "disp_0102_0102.nii.gz"]


def test_evaluate_scores_learn2reg_named_fields_by_tre(root, tmp_path):
    truth, zero = tmp_path / "truth", tmp_path / "zero"
    for folder in (truth, zero):
        folder.mkdir()
    affine = np.diag([NLST_SPACING] * 3 + [1.0])
    for case in (101, 102):
        field = np.moveaxis(nlst_true_field(SHAPE, case), 0, -1).astype(np.float32)  # Learn2Reg's (*spatial, 3)
        nib.save(nib.Nifti1Image(field, affine), truth / f"disp_{case:04d}_{case:04d}.nii.gz")
        nib.save(nib.Nifti1Image(np.zeros_like(field), affine), zero / f"disp_{case:04d}_{case:04d}.nii.gz")
    out = tmp_path / "scored"
    assert main(["evaluate", str(truth), str(zero), "--dataset", "l2r-nlst", "--data-dir", str(root),
                 "--metrics", "tre,l2r-tre", "--no-progress", "--out", str(out)]) == 0
    results = pd.read_csv(out / "results.csv").set_index(["method", "pair"])
    assert (results["status"] == "ok").all() and len(results) == 4
    for pair, case in zip(VAL_PAIRS, (101, 102), strict=True):
        # The true field carries every fixed keypoint onto its moving one (whole-voxel fixed
        # keypoints: both the linear and the cubic-spline sampling give the stored value).
        for column in ("tre", "l2r_tre", "tre_p95"):
            assert results.loc[("truth", pair.id), column] < 1e-4, column
        errors = initial_tre(root, case)  # a zero field leaves the keypoints where they were
        for column in ("tre", "l2r_tre"):
            np.testing.assert_allclose(results.loc[("zero", pair.id), column], errors.mean(), rtol=0, atol=1e-9)
    assert main(["report", str(out)]) == 0  # a report without Dice: TRE's figure, methods compared by TRE
    report = (out / "report.md").read_text()
    assert "## Correspondence" in report and "Dice" not in report.split("## Table 1")[0]
    assert "## Paired comparison" in report and "Every pair of methods by TRE (mm)" in report
