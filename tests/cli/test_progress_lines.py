"""A run whose output goes to a file (not a terminal) logs progress lines a log can be
followed by: while a network trains (step of the budget, loss, validation Dice, time
left) and while pairs are registered, at most once per interval (the interval injected,
so the tests wait for nothing)."""

from __future__ import annotations

import re

import pytest

from regbench.cli import main, running
from regbench.common.throttle import Throttle, time_left


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_throttle_is_due_once_per_interval_after_the_first():
    clock = Clock()
    throttle = Throttle(30.0, clock)
    assert not throttle.due()
    clock.now += 29.9
    assert not throttle.due()
    clock.now += 0.2
    assert throttle.due() and not throttle.due()
    clock.now += 30.0
    assert throttle.due() and throttle.elapsed == pytest.approx(60.1)


def test_time_left_follows_the_pace_so_far():
    assert time_left(60.0, 20, 100) == "about 4 min left"
    assert time_left(30.0, 50, 100) == "about 30 s left"


def test_training_and_registering_log_lines_to_a_file(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(running, "LOG_EVERY", 0.0)  # a line at every step and pair; the job carries it to the worker
    assert main(["run", "--methods", "vxm1,identity", "--dataset", "synthetic", "--dataset-option", "shape=32,32",
                 "--dataset-option", "n_subjects=10", "--max-pairs", "2", "--train", "steps=4,validate_every=2",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]) == 0
    log = capfd.readouterr().err  # the worker process's lines too: it writes to the same stderr
    steps = re.findall(r"regbench: train vxm1: step (\d)/4, loss [\d.e-]+(, validation Dice [\d.]+ at step 2)?, "
                       r"\d+ s, about \d+ s left at most", log)
    assert [step for step, _ in steps] == ["1", "2", "3"]  # the last step's line is the "trained" one
    assert steps[1][1] and not steps[0][1]  # validation Dice once it was measured
    assert "regbench: vxm1: trained, 4 steps" in log
    assert re.search(r"regbench: registering: \d of 4 registrations done, \d+ s, about \d+ s left", log)
    assert "\r" not in log  # no progress-bar frames in a file


def test_no_progress_means_no_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(running, "LOG_EVERY", 0.0)
    assert main(["run", "--methods", "identity", "--dataset", "synthetic", "--dataset-option", "shape=32,32",
                 "--dataset-option", "n_subjects=10", "--max-pairs", "2", "--no-isolation", "--no-progress",
                 "--out", str(tmp_path / "out")]) == 0
    assert "registering:" not in capsys.readouterr().err
