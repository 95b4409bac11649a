"""``regbench run --export l2r`` and ``regbench evaluate``: fields leave regbench in
Learn2Reg's submission layout and come back scored exactly as the run scored them; a
Learn2Reg folder made by hand is scored as the challenge's evaluation scores it."""

from __future__ import annotations

from pathlib import Path

import learn2reg_reference as reference
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import smooth_field
from layouts import learn2reg_oasis
from paths import EXAMPLE
from regbench_datasets.l2r import L2rOasis

from regbench.cli import main
from regbench.outputs.fields import case_names, read_field
from regbench.plugin.dataset import Pair

SYNTHETIC = ["--dataset", "synthetic", "--dataset-option", "shape=40,36", "--dataset-option", "n_subjects=16",
             "--max-pairs", "3", "--no-progress"]
METRIC_COLUMNS = ["dice_mean", "dice_std", "hd95_mean", "folding_percent", "sdlogj", "l2r_dice_mean",
                  "l2r_hd95_mean", "l2r_sdlogj", "mse", "ncc"]


def _table_without_timing(path: Path) -> list[str]:
    """table.md's rows, less the seconds (and the notes, which say how busy the machine was)."""
    return [line for line in (path / "table.md").read_text().splitlines()
            if line.startswith("|") and not line.startswith("| s / pair")]


def test_run_export_evaluate_round_trip_reproduces_the_run(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    run, exported, evaluated = tmp_path / "run", tmp_path / "l2r", tmp_path / "evaluated"
    command = ["-p", "regbench_demons", "run", "--methods", "demons,identity", *SYNTHETIC, "--out", str(run)]
    assert main(command) == 0
    # Asked for later, the export (and --save-warped) recompute the pairs whose files are missing.
    assert main([*command, "--export", "l2r", str(exported), "--save-warped"]) == 0
    pairs = pd.read_csv(run / "results.csv").drop_duplicates("pair")
    assert len(pairs) == 3
    for method in ("demons", "identity"):  # ids without a 4-digit case number of their own name the files
        assert sorted(path.name for path in (exported / method).glob("disp_*.nii.gz")) == sorted(
            f"disp_{fixed}_{moving}.nii.gz" for fixed, moving in zip(pairs["fixed"], pairs["moving"], strict=True))
    assert main(["evaluate", str(exported / "demons"), str(exported / "identity"), *SYNTHETIC,
                 "--out", str(evaluated)]) == 0

    ran, scored = (pd.read_csv(folder / "results.csv").set_index(["method", "pair"]) for folder in (run, evaluated))
    pd.testing.assert_frame_equal(scored.loc[ran.index, METRIC_COLUMNS], ran[METRIC_COLUMNS], check_exact=True)
    labels = [pd.read_csv(folder / "label_metrics.csv").drop(columns="seed")  # fields made elsewhere have no seed
              .set_index(["method", "pair", "label_id"]).sort_index() for folder in (run, evaluated)]
    pd.testing.assert_frame_equal(labels[1], labels[0], check_exact=True)
    assert _table_without_timing(evaluated) == _table_without_timing(run)
    assert main(["report", str(evaluated)]) == 0
    made = (evaluated / "report.md").read_text().split("## Summary")[0]
    assert f"scored by `regbench evaluate` from `{exported / 'demons'}`, `{exported / 'identity'}`" in made
    assert "seed ?" not in made and "profile `" not in made  # fields made elsewhere have neither
    # --save-warped fields (float32, as both methods return) are read as well.
    assert main(["evaluate", str(run / "warped" / "demons"), *SYNTHETIC, "--out", str(tmp_path / "saved")]) == 0
    saved = pd.read_csv(tmp_path / "saved" / "results.csv").set_index(["method", "pair"])
    pd.testing.assert_frame_equal(saved[METRIC_COLUMNS], ran.loc[["demons"], METRIC_COLUMNS], check_exact=True)


def test_evaluate_scores_a_learn2reg_folder_as_the_challenge_does(tmp_path):
    root = learn2reg_oasis(tmp_path / "data", n=8, shape=(24, 26, 22))
    dataset = L2rOasis(data_dir=str(root))
    submission = tmp_path / "my-method"
    submission.mkdir()
    names = case_names(dataset.test_pairs())
    assert names == {"OASIS_0005": "0005", "OASIS_0006": "0006", "OASIS_0007": "0007", "OASIS_0008": "0008"}
    expected = []
    for seed, pair in enumerate(dataset.test_pairs()):
        disp = np.moveaxis(smooth_field((24, 26, 22), seed=seed, max_displacement=3.0), 0, -1).astype(np.float32)
        nib.save(nib.Nifti1Image(disp, np.eye(4)), submission / f"disp_{names[pair.fixed_id]}_{names[pair.moving_id]}.nii.gz")
        fixed, moving = dataset.load(pair.fixed_id), dataset.load(pair.moving_id)
        expected.append(reference.evaluate_pair(fixed.seg, moving.seg, disp.astype(np.float64), list(dataset.labels),
                                                dataset.spacing))
    out = tmp_path / "scored"
    assert main(["evaluate", str(submission), "--dataset", "l2r-oasis", "--data-dir", str(root), "--no-progress",
                 "--out", str(out)]) == 0
    results = pd.read_csv(out / "results.csv")
    assert (results["method"] == "my-method").all() and (results["status"] == "ok").all()
    for column in ("l2r_dice", "l2r_hd95"):
        np.testing.assert_allclose(results[f"{column}_mean"], [case[column] for case in expected], rtol=0, atol=1e-9)
    np.testing.assert_allclose(results["l2r_sdlogj"], [case["l2r_sdlogj"] for case in expected], rtol=0, atol=1e-6)


def test_half_resolution_fields_are_brought_to_full_size(tmp_path):
    shape = (16, 12, 10)
    constant = np.full((8, 6, 5, 3), 1.25, dtype=np.float32)  # half size; values in full-size voxels
    path = tmp_path / "disp_0001_0002.nii.gz"
    nib.save(nib.Nifti1Image(constant, np.eye(4)), path)
    field = read_field(path, shape)
    assert field.shape == (3, *shape)
    np.testing.assert_allclose(field[:, 2:-2, 2:-2, 2:-2], 1.25, rtol=0, atol=1e-5)


def test_fields_of_a_wrong_shape_fail_their_pair_only(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((7, 7, 2), np.float32), np.eye(4)), tmp_path / "bad.nii.gz")
    with pytest.raises(ValueError, match=r"bad.nii.gz holds a field of spatial shape \(7, 7\); expected \(40, 36\)"):
        read_field(tmp_path / "bad.nii.gz", (40, 36))
    nib.save(nib.Nifti1Image(np.zeros((40, 36, 3), np.float32), np.eye(4)), tmp_path / "three.nii.gz")
    with pytest.raises(ValueError, match=r"expected \(\*spatial, 2\)"):
        read_field(tmp_path / "three.nii.gz", (40, 36))


def test_case_names_fall_back_to_ids_when_numbers_clash():
    pairs = [Pair("A_0001", "B_0001"), Pair("A_0001", "C_0002")]
    # "_" separates the two names in disp_FFFF_MMMM, so it becomes "-" inside one.
    assert case_names(pairs) == {"A_0001": "A-0001", "B_0001": "B-0001", "C_0002": "C-0002"}


def test_evaluate_and_export_usage_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["evaluate", str(empty), *SYNTHETIC, "--out", str(tmp_path / "out")]) == 2
    assert "holds no displacement fields: expected Learn2Reg's layout" in capsys.readouterr().err
    (tmp_path / "a" / "same").mkdir(parents=True)
    (tmp_path / "b" / "same").mkdir(parents=True)
    for folder in (tmp_path / "a" / "same", tmp_path / "b" / "same"):
        (folder / "disp_x_y.nii.gz").touch()
    assert main(["evaluate", str(tmp_path / "a" / "same"), str(tmp_path / "b" / "same"), *SYNTHETIC]) == 2
    assert "two folders are named 'same'" in capsys.readouterr().err
    assert main(["run", "--methods", "identity", *SYNTHETIC, "--export", "zip", str(tmp_path / "x"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "--export FORMAT must be one of l2r, itk, itk-h5, got 'zip'" in capsys.readouterr().err
