"""The CI regression gate, judged on injected timings: it catches a slower and a less
accurate method, passes timing noise within its factor, and refuses to judge speed
measured while other processes used the CPU. (Real timings are benchmarks' and CI's
gate step's business: a unit test must not fail because the machine is busy.)"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from regbench.cli import main
from regbench.outputs.compare import SPEED_NOT_JUDGED, readable

DATA = ["--dataset", "synthetic", "--dataset-option", "shape=32,32", "--dataset-option", "n_subjects=30",
        "--no-progress"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A real run of two methods, its timings then set by the tests."""
    out = tmp_path_factory.mktemp("gate") / "baseline"
    assert main(["run", "--methods", "ants-affine,identity", *DATA, "--out", str(out)]) == 0
    return out


def variant(baseline, folder, *, slower=None, dice_drop=None, others_cpu=None, jitter=0.0, seed=0, drop_method=None):
    """A copy of ``baseline`` with its measurements changed as a test needs: method ->
    factor on its seconds, method -> Dice lost, method -> share of the CPU other
    processes used, random timing noise of ``jitter`` (relative, drawn with ``seed``)."""
    shutil.copytree(baseline, folder)
    results = pd.read_csv(folder / "results.csv")
    rng = np.random.default_rng(seed)
    results["seconds"] = 0.02 * (1 + jitter * rng.uniform(-1, 1, len(results)))
    results["reference_seconds"] = 0.005 * (1 + jitter * rng.uniform(-1, 1, len(results)))
    results["pair_wall_seconds"] = 0.05
    results["others_cpu_seconds"] = 0.0
    for method, factor in (slower or {}).items():
        results.loc[results["method"] == method, "seconds"] *= factor
    for method, drop in (dice_drop or {}).items():
        results.loc[results["method"] == method, "dice_mean"] -= drop
    for method, share in (others_cpu or {}).items():
        rows = results["method"] == method
        results.loc[rows, "others_cpu_seconds"] = share * results.loc[rows, "pair_wall_seconds"] * results.loc[rows, "cpu_cores"]
    if drop_method:
        results = results[results["method"] != drop_method]
    results.to_csv(folder / "results.csv", index=False)
    return folder


def gate(current, before, capsys, *options) -> tuple[int, dict[str, str], str]:
    code = main(["compare", str(current), str(before), *options])
    captured = capsys.readouterr()
    verdicts = {line.split("|")[1].strip(): line.split("|")[-2].strip()
                for line in captured.out.splitlines()[2:] if line.startswith("|")}
    return code, verdicts, captured.out + captured.err


def test_timing_noise_within_the_factor_passes(baseline, tmp_path, capsys):
    before = variant(baseline, tmp_path / "before", jitter=0.1)
    for attempt in range(4):
        now = variant(baseline, tmp_path / f"now-{attempt}", jitter=0.1, seed=attempt + 1)
        code, verdicts, printed = gate(now, before, capsys)
        assert code == 0, printed
        assert set(verdicts.values()) == {"ok"}


def test_a_slower_method_fails_the_gate(baseline, tmp_path, capsys):
    before = variant(baseline, tmp_path / "before")
    code, verdicts, printed = gate(variant(baseline, tmp_path / "now", slower={"ants-affine": 1.6}), before, capsys)
    assert code == 1, printed
    assert verdicts["ants-affine"] == "REGRESSION: 1.60x slower (allowed 1.5x)"
    assert verdicts["identity"] == "ok"


def test_a_slower_machine_is_not_a_slower_method(baseline, tmp_path, capsys):
    before = variant(baseline, tmp_path / "before")
    now = variant(baseline, tmp_path / "now")
    results = pd.read_csv(now / "results.csv")
    results[["seconds", "reference_seconds"]] *= 3  # everything, the reference workload too
    results.to_csv(now / "results.csv", index=False)
    assert gate(now, before, capsys)[0] == 0


def test_a_less_accurate_method_fails_the_gate(baseline, tmp_path, capsys):
    before = variant(baseline, tmp_path / "before")
    code, verdicts, _ = gate(variant(baseline, tmp_path / "now", dice_drop={"ants-affine": 0.02}), before, capsys)
    assert code == 1
    assert verdicts["ants-affine"] == "REGRESSION: Dice dropped by 0.0200 (tolerance 0.01)"
    assert gate(variant(baseline, tmp_path / "small", dice_drop={"ants-affine": 0.005}), before, capsys)[0] == 0


@pytest.mark.parametrize(("tolerance", "message"), [
    ("dice=abc", "--tolerance dice=abc: expected a number at least 0"),
    ("dice=-0.1", "--tolerance dice=-0.1: expected a number at least 0"),
    ("dcie=0.1", "--tolerance dcie=0.1: no metric 'dcie' with a better direction in these runs; known: dice, "),
])
def test_a_tolerance_names_a_judged_metric_and_a_number(baseline, tolerance, message, capsys):
    """Found by tests/cli/test_cli_fuzz.py: a value that is not a number was a traceback, a
    misspelt metric silently judged nothing."""
    assert main(["compare", str(baseline), str(baseline), "--tolerance", tolerance]) == 2
    err = capsys.readouterr().err
    assert err.count("regbench: error:") == 1 and message in err, err


def test_a_wider_tolerance_lets_a_drop_pass(baseline, tmp_path, capsys):
    current = variant(baseline, tmp_path / "current", dice_drop={"ants-affine": 0.02})
    code, verdicts, _ = gate(current, variant(baseline, tmp_path / "before"), capsys, "--tolerance", "dice=0.03")
    assert code == 0 and verdicts["ants-affine"] == "ok"


def test_a_missing_method_fails_the_gate(baseline, tmp_path, capsys):
    before = variant(baseline, tmp_path / "before")
    code, verdicts, _ = gate(variant(baseline, tmp_path / "now", drop_method="ants-affine"), before, capsys)
    assert code == 1 and verdicts["ants-affine"] == "REGRESSION: missing from the current run"


def test_speed_measured_under_contention_is_not_judged(baseline, tmp_path, capsys):
    before = variant(baseline, tmp_path / "before")
    busy = variant(baseline, tmp_path / "busy", slower={"ants-affine": 4}, others_cpu={"ants-affine": 0.5})
    code, verdicts, printed = gate(busy, before, capsys)
    assert code == SPEED_NOT_JUDGED, printed
    assert verdicts["ants-affine"].startswith("speed not judged: other processes used 50% of the CPU")
    assert "speed not judged" in printed.splitlines()[-1]
    # accuracy is still judged, and a regression outranks an unjudged speed
    worse = variant(baseline, tmp_path / "worse", others_cpu={"ants-affine": 0.5}, dice_drop={"identity": 0.1})
    assert gate(worse, before, capsys)[0] == 1


def test_a_busy_baseline_is_not_judged_either(baseline, tmp_path, capsys):
    before = variant(baseline, tmp_path / "before", others_cpu={"identity": 0.9})
    code, verdicts, _ = gate(variant(baseline, tmp_path / "now"), before, capsys)
    assert code == SPEED_NOT_JUDGED and verdicts["identity"].startswith("speed not judged")


def test_a_folder_without_results_is_a_usage_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path), str(tmp_path)]) == 2
    assert "results.csv not found" in capsys.readouterr().err


def test_the_printed_table_has_one_format_per_column_and_no_nan():
    table = pd.DataFrame({"seeds": [3.0, np.nan, 1.0], "dice": [0.81234, np.nan, 0.7], "Δ dice": [0.0012, np.nan, -1e-5],
                          "× slower": [0.91, np.nan, 1.234], "verdict": ["ok", "skipped: not asked for", "new"]},
                         index=pd.Index(["a", "b", "c"], name="method"))
    text = readable(table)
    assert text.loc["b"].tolist() == ["-", "-", "-", "-", "skipped: not asked for"]  # no nan for a skipped method
    assert text["seeds"].tolist() == ["3", "-", "1"]
    assert text["dice"].tolist() == ["0.8123", "-", "0.7000"]
    assert text["Δ dice"].tolist() == ["+0.0012", "-", "-0.0000"]  # the metric's decimals, signed: not 1e-05
    assert text["× slower"].tolist() == ["0.910", "-", "1.234"]
    whole = pd.DataFrame({"hd95 baseline": [2.5], "hd95": [3.0], "Δ hd95": [0.5]})  # this run's values whole
    assert readable(whole).iloc[0].tolist() == ["2.500", "3.000", "+0.500"]  # one format for the measure
