"""`regbench run` outputs (NIfTI, snapshot) and `regbench report`, down to the HTML page
rendered in headless Chromium."""

from __future__ import annotations

import sys
import textwrap

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from browser import chromium_driver

from regbench.cli import main
from regbench.plugin.training import PROFILES, Profile

TINY = ["--dataset", "synthetic", "--dataset-option", "shape=32,32", "--dataset-option", "n_subjects=15",
        "--no-progress"]


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """A small real run: identity and a briefly trained vxm1, with NIfTI outputs."""
    root = tmp_path_factory.mktemp("run")
    PROFILES["tiny"] = Profile("tiny", batch_size=2, lr=1e-3, steps=12)
    try:
        assert main(["run", "--methods", "identity,vxm1", *TINY, "--profile", "tiny", "--save-warped",
                     "--cache-dir", str(root / "cache"), "--out", str(root / "out")]) == 0
    finally:
        del PROFILES["tiny"]
    return root / "out"


def test_results_hold_every_metric(results_dir):
    results = pd.read_csv(results_dir / "results.csv")
    for column in ("dice_mean", "dice_std", "hd95_mean", "folding_percent", "sdlogj", "mse", "ncc",
                   "seconds", "peak_rss_mb", "rss_increase_mb"):
        assert results[column].notna().all(), column
    identity = results[results["method"] == "identity"]
    assert (identity["folding_percent"] == 0).all() and (identity["sdlogj"] == 0).all()
    labels = pd.read_csv(results_dir / "label_metrics.csv")
    assert {"dice", "hd95"} <= set(labels.columns)


def test_save_warped_writes_nifti_with_the_fixed_affine(results_dir):
    results = pd.read_csv(results_dir / "results.csv")
    files = sorted((results_dir / "warped").rglob("*.nii.gz"))
    assert len(files) == 3 * len(results)  # image, labels, field per method × pair
    field = nib.load(next((results_dir / "warped" / "identity").glob("*_displacement.nii.gz")))
    assert field.shape == (32, 32, 1, 1, 2) and field.header.get_intent()[0] == "vector"
    np.testing.assert_array_equal(np.asarray(field.dataobj), 0.0)
    image = nib.load(next((results_dir / "warped" / "vxm1").glob("*_image.nii.gz")))
    assert image.shape == (32, 32)
    np.testing.assert_array_equal(image.affine, np.eye(4))  # synthetic: unit spacing, no world position


def test_report_markdown_has_every_table_and_figure(results_dir, tmp_path):
    assert main(["report", str(results_dir), "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "report.md").read_text()
    for heading in ("Summary", "Versus the best", "Dice: mean ranks over test pairs", "Table 1", "Dice per label",
                    "Paired comparison", "Qualitative comparison", "Pair viewer", "Accuracy and speed",
                    "Runtime and memory", "Training", "Validity", "Summary, every column"):
        assert f"## {heading}" in markdown, heading
    assert "DSC30" in markdown and "HD95 (mm)" in markdown and "label 1" in markdown
    figures = sorted(p.name for p in (tmp_path / "report_files").glob("*.png"))
    assert figures == ["accuracy_speed.png", "dice_per_label.png", "dice_per_method.png", "dice_ranks.png",
                       "qualitative.png", "runtime_memory.png", "training_loss.png",
                       "validity.png"]  # no landmarks: no correspondence
    assert "[Open viewer.html](viewer.html)" in markdown and (tmp_path / "viewer.html").is_file()
    assert "Measured on cpu; bars: std across pairs." in markdown


def test_report_of_a_folder_without_results_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "results.csv not found" in capsys.readouterr().err


def test_html_report_renders_in_headless_chromium(results_dir, tmp_path):
    assert main(["report", str(results_dir), "--out", str(tmp_path)]) == 0
    browser = chromium_driver()
    try:
        browser.get((tmp_path / "report.html").as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
        headings = browser.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        tables = browser.execute_script("return document.querySelectorAll('table').length")
    finally:
        browser.quit()
    assert len(images) == 8  # the figures of test_report_markdown_has_every_table_and_figure
    for alt, complete, width, height in images:
        assert complete and width > 100 and height > 100, alt
    assert "Accuracy and speed" in {alt for alt, *_ in images}
    assert tables == 6  # summary, versus the best, every column, Table 1, Dice per label, paired comparison
    assert {"Summary", "Versus the best", "Table 1", "Dice per label", "Paired comparison"} <= set(headings)


def test_a_plugin_can_add_a_metric(tmp_path, monkeypatch):
    (tmp_path / "outside_metric.py").write_text(textwrap.dedent("""
        import numpy as np
        import regbench

        class MaxDisplacement(regbench.Metric):
            name = "max-displacement"
            def compute(self, outcome):
                return {"max_displacement": float(np.abs(outcome.displacement).max())}

        @regbench.hookimpl
        def regbench_register_metrics(register):
            register(MaxDisplacement)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert main(["-p", "outside_metric", "run", "--methods", "identity", "--metrics", "dice,max-displacement",
                     *TINY, "--out", str(tmp_path / "out")]) == 0
    finally:
        sys.modules.pop("outside_metric", None)
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert (results["max_displacement"] == 0).all() and results["dice_mean"].notna().all()
    assert "hd95_mean" not in results  # not selected
