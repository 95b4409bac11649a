"""The CI regression gate: it catches a slower and a less accurate method, and passes
unchanged runs every time."""

from __future__ import annotations

import sys
import textwrap

import pandas as pd
import pytest

from regbench.cli import main

PLUGIN = """
import numpy as np
import regbench


class Workload(regbench.Method):
    '''A fixed amount of numpy work (``repeats`` times ~10 ms), then a zero field with
    optional random noise: a method whose speed and accuracy a test can turn.'''

    name = "workload"
    default_params = {"repeats": 1, "noise": 0.0}

    def register(self, fixed, moving):
        array = fixed.astype(np.float64)
        for _ in range(150 * self.params["repeats"]):
            array = np.sqrt(np.abs(np.gradient(array, axis=0)) + 1.0)
        field = np.zeros((fixed.ndim, *fixed.shape), np.float32)
        if self.params["noise"]:
            field += np.random.default_rng(0).normal(0, self.params["noise"], field.shape).astype(np.float32)
        return regbench.RegistrationResult(field)


@regbench.hookimpl
def regbench_register_methods(register):
    register(Workload)
"""
DATA = ["--dataset", "synthetic", "--dataset-option", "shape=96,96", "--dataset-option", "n_subjects=50",
        "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gate")
    (folder / "outside_workload.py").write_text(textwrap.dedent(PLUGIN))
    sys.path.insert(0, str(folder))

    def run_once(name: str, *params: str):
        out = folder / name
        args = ["-p", "outside_workload", "run", "--methods", "workload,identity", *DATA, "--out", str(out)]
        for param in params:
            args += ["--param", f"workload.{param}"]
        assert main(args) == 0
        return out

    yield run_once
    sys.path.remove(str(folder))
    sys.modules.pop("outside_workload", None)


def gate(current, baseline, capsys) -> tuple[int, str]:
    code = main(["compare", str(current), str(baseline)])
    return code, capsys.readouterr().out


def test_unchanged_runs_pass_every_time(run, capsys):
    baseline = run("baseline")
    for attempt in range(4):
        code, table = gate(run(f"again-{attempt}"), baseline, capsys)
        assert code == 0, table


def test_a_slower_method_fails_the_gate(run, capsys):
    baseline = run("baseline-speed")
    code, table = gate(run("slower", "repeats=4"), baseline, capsys)
    assert code == 1
    verdict = table.split("\n")[2:]
    assert any("workload" in line and "slower" in line for line in verdict), table
    assert any("identity" in line and "| ok" in line for line in verdict), table


def test_a_less_accurate_method_fails_the_gate(run, capsys):
    baseline = run("baseline-dice")
    code, table = gate(run("worse", "noise=3.0"), baseline, capsys)
    assert code == 1
    assert any("workload" in line and "Dice dropped" in line for line in table.split("\n")), table


def test_a_missing_method_fails_the_gate(run, tmp_path, capsys):
    baseline = run("baseline-missing")
    results = pd.read_csv(baseline / "results.csv")
    (tmp_path / "current").mkdir()
    results[results["method"] != "workload"].to_csv(tmp_path / "current" / "results.csv", index=False)
    code, table = gate(tmp_path / "current", baseline, capsys)
    assert code == 1 and "missing from the current run" in table


def test_a_folder_without_results_is_a_usage_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert "results.csv not found" in capsys.readouterr().err
