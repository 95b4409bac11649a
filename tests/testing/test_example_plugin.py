"""The example plugin package under examples/ passes the conformance suite, run as
its own CI would, and runs in regbench."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
from installed import metadata_of
from paths import EXAMPLE

from regbench.cli import main


def test_the_example_plugin_passes_the_conformance_suite(tmp_path):
    metadata_of(EXAMPLE, tmp_path)  # installed, as its CI would install it, so its entry point is found
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(EXAMPLE / "src"), *sys.path])}
    finished = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                              env=environment, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert " passed" in finished.stdout and " failed" not in finished.stdout


def test_the_example_method_improves_on_identity(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    assert main(["-p", "regbench_demons", "run", "--methods", "demons,identity", "--dataset", "mni2d",
                 "--dataset-option", "n_subjects=20", "--max-pairs", "3", "--no-progress", "--out", str(tmp_path)]) == 0
    dice = pd.read_csv(tmp_path / "results.csv").groupby("method")["dice_mean"].mean()
    assert dice["demons"] > dice["identity"] + 0.05
