"""A metric plugin from outside regbench reaches every output: its column in
results.csv, its heading in the report's summary, and its tolerance in the gate."""

from __future__ import annotations

import sys
import textwrap

import pandas as pd
import pytest

from regbench.cli import main

PLUGIN = """
import numpy as np
import regbench


class Displacement(regbench.Metric):
    name = "displacement"
    description = "how far the field moves voxels"
    columns = (regbench.Column("mean_displacement", "mean |u| (voxels)", "mean Euclidean length of u",
                               better="lower", tolerance=0.5),)

    def compute(self, outcome):
        return {"mean_displacement": float(np.linalg.norm(outcome.displacement, axis=0).mean())}


class Shift(regbench.Method):
    name = "shift"
    default_params = {"by": 0.0}

    def register(self, fixed, moving):
        return regbench.RegistrationResult(np.full((fixed.ndim, *fixed.shape), self.params["by"], np.float32))


@regbench.hookimpl
def regbench_register_metrics(register):
    register(Displacement)


@regbench.hookimpl
def regbench_register_methods(register):
    register(Shift)
"""
DATA = ["--dataset", "synthetic", "--dataset-option", "shape=24,28", "--dataset-option", "n_subjects=10",
        "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outside-metric")
    (folder / "outside_metric.py").write_text(textwrap.dedent(PLUGIN))
    sys.path.insert(0, str(folder))

    def run_once(name: str, by: float) -> object:
        out = folder / name
        assert main(["-p", "outside_metric", "run", "--methods", "shift,identity", *DATA, "--param", f"shift.by={by}",
                     "--no-isolation", "--out", str(out)]) == 0
        return out

    yield run_once
    sys.path.remove(str(folder))
    sys.modules.pop("outside_metric", None)


def test_its_column_is_in_the_results_the_report_and_the_gate(run, capsys, tmp_path):
    baseline, moved = run("baseline", 0.0), run("moved", 2.0)
    results = pd.read_csv(moved / "results.csv").set_index("method")
    assert results.loc["shift", "mean_displacement"].tolist() == pytest.approx([2 * 2**0.5] * 2)
    assert results.loc["identity", "mean_displacement"].tolist() == [0.0, 0.0]

    assert main(["report", str(moved), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    glance, every_column = report.split("## Versus the best")[0], report.split("## Summary, every column")[1]
    # Judged by the gate: at a glance, bold (shift, the only method but the floor); "|" escaped in Markdown.
    assert r"mean \|u\| (voxels)" in glance and "| **2.83** " in glance
    assert "2.83 ± 0 " in every_column.split("## Table 1")[0]
    capsys.readouterr()

    assert main(["compare", str(baseline), str(baseline)]) == 0
    assert "mean_displacement" in capsys.readouterr().out
    assert main(["compare", str(moved), str(baseline)]) == 1
    verdicts = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines()[2:] if "|" in line}
    assert "mean |u| (voxels) rose by 2.8284 (tolerance 0.5)" in verdicts["shift"]
    assert verdicts["identity"].split("|")[-2].strip() == "ok"


def test_a_tolerance_given_to_compare_overrides_the_declared_one(run, capsys):
    baseline, moved = run("baseline-tol", 0.0), run("moved-tol", 2.0)
    assert main(["compare", str(moved), str(baseline), "--tolerance", "mean_displacement=5",
                 "--dice-tolerance", "1"]) == 0
    assert "no regression" in capsys.readouterr().out


def test_its_declared_column_gets_its_figure(run, tmp_path):
    """The report plots what the columns declare, not columns it knows by name: the
    plugin's gated column gets its box plot per method beside Dice's."""
    assert main(["report", str(run("figure", 2.0)), "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "report.md").read_text()
    assert "## mean |u| (voxels) per method" in markdown
    assert "![mean |u| (voxels) per method](report_files/mean_displacement_per_method.png)" in markdown
    figures = {path.name for path in (tmp_path / "report_files").glob("*.png")}
    assert {"mean_displacement_per_method.png", "dice_per_method.png", "dice_per_label.png"} <= figures
    assert "mean_displacement_per_label.png" not in figures  # one value per pair, none per label
