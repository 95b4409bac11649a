"""The example plugin package under examples/ passes the conformance suite, run as
its own CI would, and runs in regbench."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
from installed import metadata_of
from paths import EXAMPLE, README

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


def test_the_readmes_plugin_packaged_as_the_readme_says_passes_every_check(tmp_path):
    """The README's plugin module, its pyproject.toml and its conformance test class, as a
    reader would copy them: every check runs (none skipped) and passes."""
    text = README.read_text()
    project = tmp_path / "my-regbench-plugin"
    (project / "tests").mkdir(parents=True)
    (project / "my_regbench_plugin.py").write_text(
        re.search(r"```python\n# my_regbench_plugin\.py\n(.*?)```", text, re.DOTALL).group(1))
    (project / "pyproject.toml").write_text(re.search(r"```toml\n(\[build-system\].*?)```", text, re.DOTALL).group(1))
    (project / "tests" / "test_conformance.py").write_text(
        re.search(r"```python\n# tests/test_conformance\.py\n(.*?)```", text, re.DOTALL).group(1))
    metadata_of(project, tmp_path / "site")  # pip install -e . as the README says
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(project), *sys.path])}
    finished = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests"],
                              cwd=project, env=environment, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert " passed" in finished.stdout and "skipped" not in finished.stdout, finished.stdout
