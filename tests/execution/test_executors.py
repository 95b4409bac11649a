"""The same run on one worker, on a local pool of two, and on a real Dask cluster on
loopback: identical tables, failures isolated, results reused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from distributed import LocalCluster

from regbench.cli import main
from regbench.cli.arguments import PAIRS_FAILED
from regbench.outputs import schema

SMALL = ["--dataset", "synthetic", "--dataset-option", "shape=32,32", "--dataset-option", "n_subjects=10",
         "--profile", "smoke", "--no-progress"]
METHODS = "vxm1,ants-affine,identity,segfaults,hangs"  # faults that do not depend on which worker is first


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as local:
        yield local


def _run(out: Path, cache: Path, *extra: str) -> pd.DataFrame:
    args = ["-p", "faulty_plugin", "run", "--methods", METHODS, *SMALL, "--timeout", "2", "--timeout", "vxm1=120",
            "--cache-dir", str(cache), "--out", str(out), *extra]
    assert main(args) == PAIRS_FAILED  # segfaults and hangs fail every pair
    return pd.read_csv(out / "results.csv")


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    folder = tmp_path_factory.mktemp("one")
    return _run(folder / "out", folder / "cache"), folder


def _same_table(results: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(results.drop(columns=list(schema.MEASURED), errors="ignore"),
                                  expected.drop(columns=list(schema.MEASURED), errors="ignore"))


def test_one_worker_isolates_the_faults(one_worker):
    results, _ = one_worker
    status = results.groupby("method")["status"].apply(list).to_dict()
    assert status["segfaults"] == status["hangs"] == ["failed"] * 2
    assert status["identity"] == status["ants-affine"] == status["vxm1"] == ["ok"] * 2


def test_two_local_workers_give_the_same_table(one_worker, tmp_path):
    expected, _ = one_worker
    results = _run(tmp_path / "out", tmp_path / "cache", "--workers", "2")
    _same_table(results, expected)
    assert json.loads((tmp_path / "out" / "run.json").read_text())["workers"] == 2


def test_a_dask_cluster_gives_the_same_table(one_worker, cluster, tmp_path):
    expected, _ = one_worker
    results = _run(tmp_path / "out", tmp_path / "cache", "--scheduler", cluster.scheduler_address)
    _same_table(results, expected)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["workers"] == 2 and run["scheduler"].startswith("tcp://127.0.0.1:")


def test_a_dask_run_resumes_what_a_local_run_stored(one_worker, tmp_path):
    """Results stored by one executor are reused by another (here a LocalCluster that
    regbench starts); failed pairs are tried again."""
    expected, folder = one_worker
    out = tmp_path / "out"
    shutil.copytree(folder / "out" / "progress", out / "progress")
    results = _run(out, folder / "cache", "--scheduler", "local", "--workers", "2")
    assert json.loads((out / "run.json").read_text())["reused_results"] == int((expected["status"] == "ok").sum())
    _same_table(results, expected)


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--no-isolation", "--workers", "2"], "--no-isolation runs one method at a time"),
    (["--scheduler", "tcp://127.0.0.1:9"], "could not reach the Dask scheduler 'tcp://127.0.0.1:9'"),
])
def test_bad_executor_options_are_usage_errors(args, message, tmp_path, capsys):
    code = main(["run", "--methods", "identity", *SMALL, "--out", str(tmp_path), *args])
    assert code == 2 and message in capsys.readouterr().err
