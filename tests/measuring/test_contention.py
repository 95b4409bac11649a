"""Timings taken while other processes use the CPU are measured, flagged in the tables
and report, and kept out of the speed gate (tested on injected CPU counters)."""

from __future__ import annotations

import pandas as pd
import pytest

from regbench.measuring import contention
from regbench.measuring.contention import OtherProcessesCPU
from regbench.outputs import schema
from regbench.outputs.report import summary_table
from regbench.outputs.tables import console_table, contention_note


def counters(monkeypatch, machine: list[float], own: list[float]) -> None:
    readings = iter(machine), iter(own)
    monkeypatch.setattr(contention, "_machine_busy_seconds", lambda: next(readings[0]))
    monkeypatch.setattr(contention, "_own_seconds", lambda: next(readings[1]))


def test_other_processes_cpu_is_the_machines_busy_time_less_this_processs(monkeypatch):
    counters(monkeypatch, machine=[100.0, 103.0], own=[10.0, 11.5])
    with OtherProcessesCPU() as others:
        pass
    assert others.seconds == pytest.approx(1.5)


def test_other_processes_cpu_is_never_negative(monkeypatch):
    counters(monkeypatch, machine=[100.0, 100.0], own=[10.0, 10.02])  # clocks tick at different moments
    with OtherProcessesCPU() as others:
        pass
    assert others.seconds == 0.0


def test_the_real_counters_move_forward():
    with OtherProcessesCPU() as others:
        sum(range(10**5))
    assert others.seconds >= 0.0 and contention.usable_cores() >= 1


def rows(method: str, others_share: float, pairs: int = 4) -> list[dict]:
    wall, cores = 0.1, 2
    return [{"method": method, "pair": f"p{i}", "status": "ok", "dice_mean": 0.8, "dice_std": 0.1, "seconds": 0.05,
             "pair_wall_seconds": wall, "cpu_cores": cores, "others_cpu_seconds": others_share * wall * cores}
            for i in range(pairs)]


def test_contention_is_the_share_of_the_cores_others_used_over_all_pairs():
    results = pd.DataFrame(rows("a", 0.5) + rows("b", 0.0))
    assert schema.contention(results[results["method"] == "a"]) == pytest.approx(0.5)
    assert schema.contention(results[results["method"] == "b"]) == 0.0
    assert pd.isna(schema.contention(results.drop(columns="others_cpu_seconds")))  # an older run: unknown


def test_contended_timings_are_marked_in_the_table_and_the_report():
    results = pd.DataFrame(rows("busy", 0.6) + rows("alone", 0.01))
    table = console_table(results)
    assert "0.050 ‡" in table and table.count("‡") == 1
    assert contention_note(results).startswith("‡ timed while other processes used the CPU (busy 60% of its cores)")
    summary = summary_table(results, [])
    assert summary.loc["busy", "CPU used by others"] == "60% ‡"
    assert summary.loc["alone", "CPU used by others"] == "1%"
    assert contention_note(pd.DataFrame(rows("alone", 0.01))) is None


def trained_rows(method: str, others_share: float, pairs: int = 4) -> list[dict]:
    wall, cores = 100.0, 2
    return [{**row, "train_seconds": 90.0, "train_wall_seconds": wall,
             "train_others_cpu_seconds": others_share * wall * cores} for row in rows(method, 0.0, pairs)]


def test_a_contended_training_time_is_marked_in_the_table_and_the_report():
    results = pd.DataFrame(trained_rows("busy-net", 0.6) + trained_rows("calm-net", 0.01))
    table = console_table(results)
    assert "90.0 ‡" in table and table.count("‡") == 1  # the training time only: its pairs ran alone
    assert contention_note(results).startswith("‡ timed while other processes used the CPU (busy-net's training 60% "
                                               "of its cores)")
    summary = summary_table(results, [])
    assert summary.loc["busy-net", "train s"] == "90.0 ‡" and summary.loc["calm-net", "train s"] == "90.0"
    cached = pd.DataFrame(trained_rows("cached-net", 0.6)).assign(train_wall_seconds=float("nan"))
    assert contention_note(cached) is None  # weights from the cache: no training measured here


def test_each_seeds_training_is_judged_and_the_busiest_marks_it():
    calm, busy = pd.DataFrame(trained_rows("net", 0.01)), pd.DataFrame(trained_rows("net", 0.6))
    results = pd.concat([calm.assign(seed=0), busy.assign(seed=1)], ignore_index=True)
    assert schema.training_contention(results) == pytest.approx(0.6)
    assert "90.0 ‡" in console_table(results)  # seeds averaged in the table, the mark from the stored rows
    assert contention_note(results).startswith("‡ timed while other processes used the CPU (net's training 60%")


def test_training_in_this_run_measures_its_wall_time_and_others_cpu(tmp_path, capsys):
    from regbench.cli import main

    tiny = ["--methods", "vxm1", "--dataset", "synthetic", "--dataset-option", "shape=32,32", "--dataset-option",
            "n_subjects=10", "--max-pairs", "1", "--train", "steps=2,validate_every=2", "--no-progress",
            "--no-isolation", "--cache-dir", str(tmp_path / "cache")]
    assert main(["run", *tiny, "--out", str(tmp_path / "first")]) == 0
    first = pd.read_csv(tmp_path / "first" / "results.csv").iloc[0]
    assert first["train_wall_seconds"] >= first["train_seconds"] > 0 and first["train_others_cpu_seconds"] >= 0
    assert main(["run", *tiny, "--out", str(tmp_path / "second")]) == 0  # the weights now come from the cache
    second = pd.read_csv(tmp_path / "second" / "results.csv").iloc[0]
    assert second["train_cached"] and pd.isna(second["train_wall_seconds"])
    capsys.readouterr()
