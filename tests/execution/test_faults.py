"""Runs that survive faults: methods that raise, crash, are killed, hang or return bad
fields; runs killed with SIGKILL or Ctrl-C and resumed; results reused exactly when
nothing that decides them changed. The misbehaving methods are in faulty_plugin.py."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from layouts import neurite_oasis
from paths import SUPPORT
from regbench_datasets.synthetic import Synthetic

import regbench
from regbench.cli import main
from regbench.cli.arguments import PAIRS_FAILED
from regbench.execution.plan import plan_job
from regbench.execution.runner import run_jobs
from regbench.execution.store import ResultStore
from regbench.outputs import schema
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.registry import Registry
from regbench.plugin.training import PROFILES, Profile

TINY = ["--dataset", "synthetic", "--dataset-option", "shape=24,28", "--dataset-option", "n_subjects=10", "--no-progress"]
# 20 subjects -> 4 test pairs; 32×32 fits the learned methods' multiple of 16.
SMALL = ["--dataset", "synthetic", "--dataset-option", "shape=32,32", "--dataset-option", "n_subjects=20",
         "--profile", "smoke", "--no-progress"]


def read(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "results.csv")


def errors_by_method(results: pd.DataFrame) -> dict[str, list[str]]:
    return results.fillna({"error": ""}).groupby("method", sort=False)["error"].apply(list).to_dict()


EXPECTED_ERRORS = {
    "raises": r"^RuntimeError: the solver diverged$",
    "segfaults": r"^the worker process crashed \(SIGSEGV: segmentation fault\) while registering pair ",
    "oom-killed": r"^the worker process was killed \(SIGKILL; the kernel's out-of-memory killer sends it\) while registering",
    "exits": r"^the worker process exited with status 3 while registering pair ",
    "hangs": r"^timed out after 1 s while registering pair .*; the worker process was killed$",
    "memory-error": r"^MemoryError: ",
    "nan-field": r"^ValueError: method 'nan-field' returned a displacement with NaN or infinite values$",
    "wrong-shape": r"^ValueError: method 'wrong-shape' returned a displacement of shape \(24, 28\); expected \(2, 24, 28\)",
    "wrong-dtype": r"^TypeError: method 'wrong-dtype' returned a displacement of dtype int64; expected floats$",
    "not-an-array": r"^TypeError: method 'not-an-array' returned a displacement of type list; expected a numpy array",
}


def test_every_fault_gives_failed_rows_with_the_reason_and_the_others_complete(tmp_path, markers):
    methods = ",".join(["identity", *EXPECTED_ERRORS, "segfaults-once"])
    code = main(["-p", "faulty_plugin", "run", "--methods", methods, *TINY, "--timeout", "1",
                 "--timeout", "identity=60", "--out", str(tmp_path)])
    assert code == PAIRS_FAILED  # every table written, and the failures told to scripts
    results = read(tmp_path)
    assert len(results) == 2 * (len(EXPECTED_ERRORS) + 2)  # every method × pair has a row
    status = results.groupby("method")["status"].apply(list).to_dict()
    assert status["identity"] == ["ok", "ok"]
    assert status["segfaults-once"] == ["failed", "ok"]  # a fresh worker took the next pair
    errors = errors_by_method(results)
    for method, pattern in EXPECTED_ERRORS.items():
        assert status[method] == ["failed", "failed"], method
        for error in errors[method]:
            assert pd.Series([error]).str.contains(pattern, regex=True).all(), (method, error)
    assert (tmp_path / "qualitative.npz").is_file()


def test_a_method_that_hangs_while_preparing_is_killed_at_its_timeout(tmp_path):
    code = main(["-p", "faulty_plugin", "run", "--methods", "hangs-preparing,identity", *TINY,
                 "--prepare-timeout", "2", "--out", str(tmp_path)])
    assert code == PAIRS_FAILED
    errors = errors_by_method(read(tmp_path))
    assert errors["hangs-preparing"] == ["timed out after 2 s while preparing (training or loading); "
                                         "the worker process was killed"] * 2
    assert errors["identity"] == ["", ""]


def test_a_failed_pair_is_tried_again_on_resume_and_nothing_else_is(tmp_path, markers):
    args = ["-p", "faulty_plugin", "run", "--methods", "segfaults-once,identity", *TINY, "--out", str(tmp_path)]
    assert main(args) == PAIRS_FAILED
    assert read(tmp_path)["status"].tolist() == ["failed", "ok", "ok", "ok"]
    stored = {path: path.stat().st_mtime_ns for path in (tmp_path / "progress").rglob("*.json")}
    assert main(args) == 0
    assert read(tmp_path)["status"].tolist() == ["ok"] * 4
    rewritten = [path for path, mtime in stored.items() if path.stat().st_mtime_ns != mtime]
    assert [path.parent.name.split("-")[0] for path in rewritten] == ["segfaults"]  # only the failed pair's row
    assert json.loads((tmp_path / "run.json").read_text())["reused_results"] == 3


def test_a_damaged_stored_result_is_computed_again(tmp_path, capsys):
    args = ["run", "--methods", "identity", *TINY, "--out", str(tmp_path)]
    assert main(args) == 0
    damaged = sorted((tmp_path / "progress").rglob("*-*.json"))[0]
    damaged.write_text('{"row": {"pair": ')  # e.g. a disk that filled up under another writer
    assert main(args) == 0
    assert f"ignoring unreadable stored result {damaged}" in capsys.readouterr().err
    assert json.loads((tmp_path / "run.json").read_text())["reused_results"] == 1
    assert read(tmp_path)["status"].tolist() == ["ok", "ok"]


def test_a_corrupt_data_file_stops_the_run_by_name_and_loses_nothing_stored(tmp_path, capsys):
    root = neurite_oasis(tmp_path / "data", ndim=2, n=6)
    args = ["run", "--methods", "identity", "--dataset", "oasis2d", "--data-dir", str(root), "--no-progress",
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    stored = {path: path.read_bytes() for path in (tmp_path / "out" / "progress").rglob("*.json")}
    image = root / "OASIS_OAS1_0002_MR1" / "slice_norm.nii.gz"
    image.write_bytes(image.read_bytes()[:40])  # a download cut short
    assert main(args) == 2
    assert f"{image} is not a readable NIfTI file" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in (tmp_path / "out" / "progress").rglob("*.json")} == stored


def test_a_plugin_that_fails_to_import_is_reported_and_the_others_run(tmp_path, monkeypatch, capsys):
    """An installed distribution (a .dist-info on sys.path) whose plugin module raises."""
    site = tmp_path / "site"
    dist_info = site / "broken_plugin-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[regbench]\nbroken = outside_broken_plugin\n")
    (site / "outside_broken_plugin.py").write_text("import numpy\nraise RuntimeError('missing CUDA library libfoo.so')\n")
    monkeypatch.syspath_prepend(str(site))
    assert main(["list"]) == 0
    captured = capsys.readouterr()
    assert ("plugin 'broken' failed to import: RuntimeError: missing CUDA library libfoo.so; its methods, "
            "datasets and metrics are skipped") in captured.err
    assert "ants-syn" in captured.out and "identity" in captured.out
    assert main(["run", "--methods", "identity", *TINY, "--out", str(tmp_path / "out")]) == 0
    assert read(tmp_path / "out")["status"].tolist() == ["ok", "ok"]


def test_a_plugin_that_raises_while_registering_is_reported_and_the_others_register(tmp_path, monkeypatch, capsys):
    (tmp_path / "outside_bad_register.py").write_text(textwrap.dedent("""
        import regbench

        @regbench.hookimpl
        def regbench_register_methods(register):
            register(object)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["-p", "outside_bad_register", "list"]) == 0
    captured = capsys.readouterr()
    assert "plugin 'outside_bad_register' failed to register its methods: TypeError: method " in captured.err
    assert "identity" in captured.out


def test_a_method_a_worker_cannot_import_fails_with_advice(tmp_path):
    class Local(regbench.Method):  # defined in a function: no worker process can import it
        name = "local"

        def register(self, fixed, moving):
            raise AssertionError("never called")

    registry = Registry("method")
    registry(Local)
    dataset = Synthetic(shape=(24, 28), n_subjects=10)
    job = plan_job(registry["local"], {}, dataset=dataset, seed=0, profile=PROFILES["quick"])
    output = run_jobs([job], dataset.test_pairs(), ResultStore(tmp_path), dataset=dataset, progress=False)
    assert output.results["status"].tolist() == ["failed", "failed"]
    assert output.results["error"].iloc[0].startswith("method 'local' cannot be sent to a worker process (")
    assert "run with --no-isolation" in output.results["error"].iloc[0]


# --- results reused exactly when nothing that decides them changed ---------------------


def _folders(out: Path) -> set[str]:
    return {path.name for path in (out / "progress").iterdir()}


def _reused(out: Path) -> int:
    return json.loads((out / "run.json").read_text())["reused_results"]


def test_changing_parameters_seed_dataset_or_code_recomputes_exactly_the_affected_results(tmp_path, monkeypatch):
    plugin = tmp_path / "outside_shift.py"
    source = textwrap.dedent("""
        import numpy as np
        import regbench

        class Shift(regbench.Method):
            name = "shift"
            default_params = {"by": 1.0}
            def register(self, fixed, moving):
                return regbench.RegistrationResult(np.full((fixed.ndim, *fixed.shape), self.params["by"], np.float32))

        @regbench.hookimpl
        def regbench_register_methods(register):
            register(Shift)
    """)
    plugin.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"

    def run(*extra: str) -> int:  # in this process: the keys are the point here, not the isolation
        assert main(["-p", "outside_shift", "run", "--methods", "shift,identity", *TINY, "--no-isolation",
                     "--out", str(out), *extra]) == 0
        return _reused(out)

    assert run() == 0
    first = _folders(out)
    assert run() == 4  # nothing changed: everything reused
    assert run("--param", "shift.by=2") == 2  # identity's results still hold
    assert run("--param", "shift.by=1") == 4  # back to the first settings: stored, so reused
    assert run("--seed", "1") == 0
    assert run("--dataset-option", "seed=3") == 0  # another dataset split
    plugin.write_text(source.replace("self.params[\"by\"]", "self.params[\"by\"] * 2"))
    assert run() == 2  # shift's code changed, identity's did not
    assert first < _folders(out)
    assert run("--fresh") == 0


# --- the whole command killed, then resumed -------------------------------------------


def _command(out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "regbench.cli", "-p", "faulty_plugin", "run", "--methods",
            "vxm1,slow,ants-affine,identity", *SMALL, "--cache-dir", str(cache), "--out", str(out)]


ENVIRONMENT = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), *sys.path])}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(_command(out, out / "cache"), env=ENVIRONMENT, check=True, capture_output=True)
    return out


def _wait_for_pause(pipe: Path, process: subprocess.Popen) -> None:
    """Wait until the ``slow`` method says, through ``pipe``, that it has paused (an event,
    not a guessed delay); fail at once if the run ends first."""
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # lets the method's open for writing go through
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert process.poll() is None, "the run ended before it could be interrupted"
            ready, _, _ = select.select([reader], [], [], 1.0)
            if ready and os.read(reader, 100):
                return
        raise AssertionError("the slow method never paused")
    finally:
        os.close(reader)


def _restore_sigint() -> None:
    """In the child: Ctrl-C's default, even when pytest runs from a background job (whose
    children inherit SIGINT ignored, so Python would never raise KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _comparable(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    results = read(out).drop(columns=list(schema.MEASURED), errors="ignore")
    return results, pd.read_csv(out / "label_metrics.csv")


@pytest.mark.parametrize("interrupt", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_run_killed_midway_resumes_to_the_table_of_an_uninterrupted_run(tmp_path, uninterrupted, interrupt):
    out, cache, pipe = tmp_path / "resumed", tmp_path / "cache", tmp_path / "pause"
    os.mkfifo(pipe)
    process = subprocess.Popen(_command(out, cache), env={**ENVIRONMENT, "FAULTY_PAUSE": str(pipe)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_restore_sigint)
    _wait_for_pause(pipe, process)  # vxm1 is trained and stored, slow has stored two of its four pairs
    workers = psutil.Process(process.pid).children(recursive=True)
    assert workers, "the method should run in a worker process"
    process.send_signal(interrupt)
    _, err = process.communicate(timeout=60)
    if interrupt == signal.SIGINT:  # one line, no traceback, and the exit status a shell gives Ctrl-C
        assert process.returncode == 130 and "Traceback" not in err
        assert err.strip().splitlines()[-1] == (f"regbench: interrupted (SIGINT): 6 result(s) are stored in "
                                                f"{out / 'progress'}/; the same command continues where this one "
                                                f"stopped")
    assert not (out / "results.csv").exists()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "worker processes outlived the run"

    stored = {path: path.stat().st_mtime_ns for path in (out / "progress").rglob("*-*.json")}  # results, not method.json
    weights = {path: path.stat().st_mtime_ns for path in cache.rglob("*.pt")}
    assert stored and weights
    finished = subprocess.run(_command(out, cache), env=ENVIRONMENT, check=True, capture_output=True, text=True)
    assert f"{len(stored)} result(s) reused" in finished.stdout
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in stored.items()), "stored results were recomputed"
    assert {path: path.stat().st_mtime_ns for path in cache.rglob("*.pt")} == weights, "weights were trained again"

    expected_results, expected_labels = _comparable(uninterrupted)
    results, labels = _comparable(out)
    pd.testing.assert_frame_equal(results, expected_results)
    pd.testing.assert_frame_equal(labels, expected_labels)
    assert (out / "table.md").read_text().split("| s / pair")[0] == \
        (uninterrupted / "table.md").read_text().split("| s / pair")[0]


@pytest.mark.parametrize("methods", ["ants-affine,ants-syn,vxm1,eca-unet,identity", "keras-vxm1"])
def test_the_same_seed_gives_identical_dice_for_every_method(tmp_path, monkeypatch, methods):
    """On CPU, two runs from scratch (no shared weights) agree exactly, ANTs and Keras
    included; a method whose extra is not installed here is skipped, saying which."""
    missing = {name: entry.status for name in methods.split(",")
               if not (entry := collect(plugin_manager()).methods[name]).installed}
    if missing:
        pytest.skip(f"not installed here: {missing}")
    monkeypatch.setitem(PROFILES, "tiny", Profile("tiny", batch_size=2, lr=1e-3, steps=10))
    data = ["--dataset", "synthetic", "--dataset-option", "shape=32,32", "--dataset-option", "n_subjects=10"]
    runs = []
    for name in ("first", "second"):
        out = tmp_path / name
        # in this process, one after the other: global state one run leaves must not change the next's numbers
        assert main(["run", "--methods", methods, *data, "--profile", "tiny", "--seed", "7", "--no-progress",
                     "--no-isolation", "--cache-dir", str(tmp_path / f"cache-{name}"), "--out", str(out)]) == 0
        runs.append(read(out).set_index(["method", "pair"])[["status", "dice_mean", "dice_std", "train_cached"]])
    assert set(runs[0]["status"]) == {"ok"} and len(runs[0]) == 2 * len(methods.split(","))
    assert runs[1]["train_cached"].dropna().eq(False).all()  # the second run trained again
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)


def test_a_terminated_run_says_what_is_kept_and_how_to_go_on(tmp_path):
    """SIGTERM (a scheduler's stop, ``kill``) ends a run as Ctrl-C does (see above)."""
    interrupt, status = signal.SIGTERM, 143
    out, pipe = tmp_path / "out", tmp_path / "pause"
    os.mkfifo(pipe)
    process = subprocess.Popen([sys.executable, "-m", "regbench.cli", "-p", "faulty_plugin", "run", "--methods", "slow",
                                *SMALL, "--out", str(out)], env={**ENVIRONMENT, "FAULTY_PAUSE": str(pipe)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_restore_sigint)
    _wait_for_pause(pipe, process)  # slow has stored two of its four pairs
    process.send_signal(interrupt)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"regbench: interrupted ({signal.Signals(interrupt).name}): 2 result(s) are "
                                            f"stored in {out / 'progress'}/; the same command continues where this "
                                            f"one stopped")
