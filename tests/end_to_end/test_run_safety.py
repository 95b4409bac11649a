"""What a run writes never costs a user a file or another run its tables: regbench
replaces only what it wrote, one command writes a results folder at a time, and
everything a run will write to is checked before work starts."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

import pandas as pd
import pytest

from regbench.cli import main
from regbench.cli.arguments import PAIRS_FAILED, USAGE_ERROR
from regbench.common.lock import FolderLock

TINY = ["--dataset", "synthetic", "--dataset-option", "shape=24,28", "--dataset-option", "n_subjects=10", "--no-progress",
        "--max-pairs", "2"]
RUN = ["run", "--methods", "identity", *TINY, "--no-isolation"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("regbench: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def _export(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A finished run's Learn2Reg export of identity, and its files."""
    out, exported = tmp_path / "out", tmp_path / "submission"
    assert main([*RUN, "--out", str(out), "--export", "l2r", str(exported)]) == 0
    return exported / "identity", sorted((exported / "identity").glob("disp_*.nii.gz"))


def test_an_export_never_overwrites_a_users_field(tmp_path, capsys):
    folder, written = _export(tmp_path / "first")
    users = tmp_path / "submission" / "identity"
    users.mkdir(parents=True)
    (users / written[0].name).write_bytes(b"the user's own field")
    code = main([*RUN, "--out", str(tmp_path / "out"), "--export", "l2r", str(tmp_path / "submission")])
    assert code == USAGE_ERROR
    assert written[0].name in _one_line_error(capsys)
    assert (users / written[0].name).read_bytes() == b"the user's own field"


def test_an_export_with_other_settings_replaces_only_regbench_s_own_fields(tmp_path):
    folder, written = _export(tmp_path)
    (folder / "disp_9999_9998.nii.gz").write_bytes(b"the user's own field")  # no pair has this name
    (folder / "notes.txt").write_text("mine")
    assert main([*RUN, "--metrics", "dice", "--out", str(tmp_path / "out"),
                 "--export", "l2r", str(tmp_path / "submission")]) == 0  # another result key
    assert (folder / "disp_9999_9998.nii.gz").read_bytes() == b"the user's own field"
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(folder.glob("disp_*.nii.gz")) == sorted([*written, folder / "disp_9999_9998.nii.gz"])


def test_saved_warped_files_never_overwrite_a_users_file(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*RUN, "--out", str(out), "--save-warped"]) == 0
    folder = out / "warped" / "identity"
    mine = sorted(folder.glob("*_image.nii.gz"))[0]
    stranger = folder / "mine.nii.gz"
    stranger.write_bytes(b"mine")
    assert main([*RUN, "--metrics", "dice", "--out", str(out), "--save-warped"]) == 0
    assert stranger.read_bytes() == b"mine" and mine.is_file()
    (folder / ".regbench-files.json").unlink()  # the record lost: regbench owns nothing there any more
    assert main([*RUN, "--metrics", "dice,hd95", "--out", str(out), "--save-warped"]) == USAGE_ERROR
    assert "did not write" in _one_line_error(capsys)


def test_evaluate_never_writes_over_a_run_s_results(tmp_path, capsys):
    out, exported = tmp_path / "out", tmp_path / "submission"
    assert main([*RUN, "--out", str(out), "--export", "l2r", str(exported)]) == 0
    tables = (out / "results.csv").read_bytes()
    code = main(["evaluate", str(exported / "identity"), *TINY, "--out", str(out)])
    assert code == USAGE_ERROR
    assert "results folder of a `regbench run`" in _one_line_error(capsys)
    assert (out / "results.csv").read_bytes() == tables


def test_a_run_never_writes_over_tables_regbench_did_not_write(tmp_path, capsys):
    (tmp_path / "results.csv").write_text("method,pair\nmine,1\n")
    assert main([*RUN, "--out", str(tmp_path)]) == USAGE_ERROR
    assert "did not write" in _one_line_error(capsys)
    assert (tmp_path / "results.csv").read_text() == "method,pair\nmine,1\n"


def test_a_second_run_on_one_folder_says_who_holds_it(tmp_path, capsys):
    with FolderLock(tmp_path):
        assert main([*RUN, "--out", str(tmp_path)]) == USAGE_ERROR
    error = _one_line_error(capsys)
    assert "is being written by process" in error and "--wait" in error
    assert not (tmp_path / "results.csv").exists()


def test_wait_waits_for_the_folder_then_runs(tmp_path, monkeypatch):
    waiting = threading.Event()
    real_flock = fcntl.flock

    def flock(handle, operation):
        if operation == fcntl.LOCK_EX:  # a blocking request: the run is waiting now
            waiting.set()
        return real_flock(handle, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    holder = FolderLock(tmp_path).__enter__()
    release = threading.Thread(target=lambda: waiting.wait(600) and holder.__exit__(None, None, None))
    release.start()
    assert main([*RUN, "--out", str(tmp_path), "--wait"]) == 0
    release.join()
    assert waiting.is_set() and (tmp_path / "results.csv").is_file()


def test_a_cache_that_cannot_be_written_stops_the_run_before_any_work(tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("REGBENCH_CACHE", str(blocked / "cache"))
    assert main(["run", "--methods", "identity", *TINY, "--out", str(tmp_path / "out")]) == USAGE_ERROR
    assert "$REGBENCH_CACHE" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--save-warped", "--export"])
def test_a_damaged_ownership_record_owns_nothing(tmp_path, flag, capsys):
    """A record regbench cannot read is no licence to delete: the files it named stay."""
    out, exported = tmp_path / "out", tmp_path / "submission"
    extra = ["--save-warped"] if flag == "--save-warped" else ["--export", "l2r", str(exported)]
    assert main([*RUN, "--out", str(out), *extra]) == 0
    folder = out / "warped" / "identity" if flag == "--save-warped" else exported / "identity"
    files = {path: path.read_bytes() for path in folder.glob("*.nii.gz")}
    (folder / ".regbench-files.json").write_text("{damaged")
    assert main([*RUN, "--metrics", "dice", "--out", str(out), *extra]) == USAGE_ERROR
    _one_line_error(capsys)
    assert {path: path.read_bytes() for path in folder.glob("*.nii.gz")} == files


def test_evaluate_with_a_missing_field_writes_every_table_then_exits_5(tmp_path):
    out, exported = tmp_path / "out", tmp_path / "submission"
    assert main([*RUN, "--out", str(out), "--export", "l2r", str(exported)]) == 0
    sorted((exported / "identity").glob("disp_*.nii.gz"))[0].unlink()
    assert main(["evaluate", str(exported / "identity"), *TINY, "--out", str(tmp_path / "scored")]) == PAIRS_FAILED
    results = pd.read_csv(tmp_path / "scored" / "results.csv")
    assert sorted(results["status"]) == ["failed", "ok"]


def test_compare_says_that_an_evaluate_folder_is_no_run(tmp_path, capsys):
    out, exported = tmp_path / "out", tmp_path / "submission"
    assert main([*RUN, "--out", str(out), "--export", "l2r", str(exported)]) == 0
    assert main(["evaluate", str(exported / "identity"), *TINY, "--out", str(tmp_path / "scored")]) == 0
    assert main(["compare", str(tmp_path / "scored"), str(out)]) == USAGE_ERROR
    assert "was written by `regbench evaluate`" in _one_line_error(capsys)
