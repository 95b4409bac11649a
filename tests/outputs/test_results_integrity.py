"""No silent wrong number: a results folder is written whole or not at all, and read back
only as it was written. A table cut short, an emptied file, a damaged run.json, a dropped
column or a foreign CSV is one ``regbench: error:`` line naming the file (exit 2) in
``report`` and ``compare`` (never compare's regression, 1); a damaged file in
``progress/`` is set aside, kept, and computed again. tests/outputs/test_results_fuzz.py damages
folders at random."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from regbench.cli import main
from regbench.outputs import files
from regbench.outputs.files import ResultsFolder, RunOutput, write_run
from regbench.outputs.integrity import DamagedResults
from regbench.outputs.run_info import RunInfo

RUN = ["run", "--methods", "identity", "--dataset", "synthetic", "--dataset-option", "shape=24,28",
       "--dataset-option", "n_subjects=10", "--max-pairs", "2", "--no-progress",
       "--no-isolation"]  # in this process: what is stored and read back is the point, not isolation
METRICS = ["dice_mean", "dice_std", "hd95_mean", "folding_percent", "sdlogj", "mse", "ncc"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One finished run of identity on two synthetic pairs (its run.json records the
    command line from sys.argv, as from a shell)."""
    out = tmp_path_factory.mktemp("integrity") / "done"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["regbench", *RUN, "--out", str(out)])
        assert main() == 0
    return out


@pytest.fixture
def copy(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "copy"))


def _error(code: int, capsys, name: str) -> str:
    """The one error line of a command that exited 2 naming the file ``name``."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("regbench: error:") == 1 and "Traceback" not in err, err
    assert f"{name} " in err and "; rerun " in err and "regbench run" in err, err
    return err


def _cut_in_last_row(path: Path, column: str) -> str:
    """Cut ``path`` in the middle of ``column``'s value in its last row, as a kill while
    writing does; the value cut short."""
    text = path.read_text()
    start = text.rindex("\n", 0, len(text) - 1) + 1
    header, last = text.split("\n", 1)[0].split(","), text[start:]
    offset = len(",".join(last.split(",")[: header.index(column)])) + 1
    value = last.split(",")[header.index(column)]
    path.write_text(text[: start + offset + len(value) // 2])
    return value


def test_a_results_csv_cut_mid_row_is_an_error_not_a_shorter_number(copy, tmp_path, capsys):
    value = _cut_in_last_row(copy / "results.csv", "seconds")
    assert "e-" in value  # 1.8e-05 s cut to 1.8 s is what the tester saw reported
    err = _error(main(["report", str(copy), "--out", str(tmp_path / "report")]), capsys, "results.csv")
    assert "cut short" in err and not (tmp_path / "report" / "report.md").exists()
    _error(main(["compare", str(copy), str(copy)]), capsys, "results.csv")


def test_an_empty_results_csv_is_an_error(copy, capsys):
    (copy / "results.csv").write_bytes(b"")
    assert "is empty (0 bytes)" in _error(main(["report", str(copy)]), capsys, "results.csv")


@pytest.mark.parametrize("damage", ["cut", "a list", "no command", "bytes gone bad"])
def test_a_damaged_run_json_is_an_error(copy, capsys, damage):
    path = copy / "run.json"
    text = path.read_text()
    path.write_bytes({"cut": text[: len(text) // 2].encode(), "a list": b"[]\n",
                      "no command": json.dumps({"dataset": "synthetic"}).encode(),
                      "bytes gone bad": text.encode().replace(b"synthetic", b"synth\xe9tic")}[damage])
    _error(main(["report", str(copy)]), capsys, "run.json")
    _error(main(["compare", str(copy), str(copy)]), capsys, "run.json")


def _drop_column(path: Path, column: str) -> None:
    pd.read_csv(path).drop(columns=column).to_csv(path, index=False)


DAMAGE = {  # each made compare exit 1, "regression", before this was checked
    "a row cut before its status": lambda folder: _cut_in_last_row(folder / "results.csv", "pair"),
    "the Dice column dropped": lambda folder: _drop_column(folder / "results.csv", "dice_mean"),
    "a row lost": lambda folder: (folder / "results.csv").write_text(
        "".join((folder / "results.csv").read_text().splitlines(keepends=True)[:-1])),
    "a foreign CSV": lambda folder: (folder / "results.csv").write_text("method,pair,status,seconds,x\na,b,c,d,e\n"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_compare_of_a_damaged_folder_exits_2_never_1(finished, copy, capsys, damage):
    DAMAGE[damage](copy)
    for current, baseline in ((copy, finished), (finished, copy)):
        _error(main(["compare", str(current), str(baseline)]), capsys, "results.csv")


def test_a_folder_without_run_json_is_read_as_an_older_one(copy, capsys):
    (copy / "run.json").unlink()
    assert main(["report", str(copy)]) == 0
    assert "## Qualitative comparison" in (copy / "report.md").read_text()


def test_run_json_reads_back_as_written_and_an_older_one_with_settings_unrecorded(copy, capsys):
    written = json.loads((copy / "run.json").read_text())
    assert json.loads(json.dumps(RunInfo.from_json(written).to_json(), default=str)) == written
    (copy / "run.json").write_text(json.dumps({key: written[key] for key in ("command", "dataset", "methods")}))
    info = ResultsFolder.read(copy).run_info
    assert (info.dataset, info.seeds, info.profile, info.columns, info.files) == ("synthetic", (), None, (), None)
    assert main(["report", str(copy)]) == 0
    assert "seed ?, profile `?`" in (copy / "report.md").read_text()
    assert main(["compare", str(copy), str(copy)]) == 0


def test_the_error_is_one_exception_naming_file_problem_and_command(copy):
    (copy / "label_metrics.csv").write_text("".join((copy / "label_metrics.csv").read_text().splitlines(True)[:-1]))
    with pytest.raises(DamagedResults, match=r"label_metrics.csv has 7 rows of identity \(seed 0\); run.json "
                                             r"records 8; rerun `regbench .*`: stored results in progress/ are reused"):
        ResultsFolder.read(copy)


DAMAGED_STORE = {
    "cut": lambda json_file: json_file.write_bytes(json_file.read_bytes()[: json_file.stat().st_size // 2]),
    "a list": lambda json_file: json_file.write_text("[]"),
    "no row": lambda json_file: json_file.write_text('{"row": 1}'),
    "its arrays gone": lambda json_file: json_file.with_suffix(".npz").unlink(),
    "a folder": lambda json_file: (json_file.unlink(), json_file.mkdir()),
}


@pytest.mark.parametrize("damage", DAMAGED_STORE)
def test_a_damaged_stored_result_is_set_aside_and_computed_again(finished, copy, capsys, damage):
    stored = next(path for path in (copy / "progress").rglob("*.json")
                  if path.name != "method.json" and path.with_suffix(".npz").exists())  # the figure pair's
    DAMAGED_STORE[damage](stored)
    assert main([*RUN, "--out", str(copy)]) == 0
    err = capsys.readouterr().err
    assert f"ignoring unreadable stored result {stored} (" in err and "Traceback" not in err, err
    aside = stored.with_name(f"{stored.name}.damaged-1")
    assert f"set aside as {aside}" in err and aside.exists(), err
    pristine, resumed = (pd.read_csv(folder / "results.csv") for folder in (finished, copy))
    pd.testing.assert_frame_equal(resumed[METRICS], pristine[METRICS], check_exact=True)
    assert json.loads((copy / "run.json").read_text())["reused_results"] == 1
    assert main(["report", str(copy)]) == 0


def test_a_damaged_method_info_is_set_aside_and_read_as_absent(finished, copy, capsys):
    info = next((copy / "progress").rglob("method.json"))
    info.write_text('{"row": {}}')
    assert main([*RUN, "--out", str(copy)]) == 0
    err = capsys.readouterr().err
    assert f"ignoring unreadable stored method info {info} (" in err and "Traceback" not in err, err
    assert info.with_name("method.json.damaged-1").read_text() == '{"row": {}}'
    columns = ["device", "parameters", "method_params", "train_cached"]  # from the method's info, prepared again
    after, before = (pd.read_csv(path / "results.csv") for path in (copy, finished))
    pd.testing.assert_frame_equal(after[columns], before[columns])


def test_write_run_killed_mid_write_leaves_the_old_table(copy, monkeypatch):
    folder = ResultsFolder.read(copy)
    before = {path.name: path.read_bytes() for path in copy.iterdir() if path.is_file()}
    output = RunOutput(results=folder.results.assign(dice_mean=0.0), label_metrics=folder.label_metrics,
                       training=folder.training)

    def cut_short(frame: pd.DataFrame, path, **options) -> None:
        Path(path).write_text(frame.to_string()[:50])  # half a table, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", cut_short)
    with pytest.raises(KeyboardInterrupt):
        write_run(copy, output, folder.run_info)
    assert {path.name: path.read_bytes() for path in copy.iterdir() if path.is_file()} == before
    assert files.RESULTS_FILE in before
