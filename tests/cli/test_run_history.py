"""A rerun that reuses stored results keeps the record of the run that computed them:
run.json's history grows by one entry per command, and the report says when and in how
long the results were computed."""

from __future__ import annotations

import json

from regbench.cli import main
from regbench.outputs.files import ResultsFolder
from regbench.outputs.report.build import run_text

TINY = ["--methods", "identity,ants-affine", "--dataset", "synthetic", "--dataset-option", "shape=32,32",
        "--dataset-option", "n_subjects=10", "--max-pairs", "2", "--no-progress", "--no-isolation"]


def history(out):
    return json.loads((out / "run.json").read_text())["history"]


def test_a_rerun_appends_its_record_and_keeps_the_first_ones_timing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", *TINY, "--out", str(out)]) == 0
    first = history(out)
    assert len(first) == 1 and (first[0]["computed"], first[0]["reused"]) == (4, 0) and first[0]["seconds"] > 0
    assert main(["run", *TINY, "--out", str(out)]) == 0
    second = history(out)
    assert second[0] == first[0]  # the computing run's record, untouched
    assert (second[1]["computed"], second[1]["reused"]) == (0, 4) and second[1]["command"].startswith("regbench run")
    text = run_text(ResultsFolder.read(out, arrays=False).run_info, 2)
    assert f"results computed in {first[0]['seconds']:.0f} s by 1 command, finished {first[0]['finished']}" in text
    assert "then reused as stored by 1 later command" in text
    assert main(["run", *TINY, "--fresh", "--out", str(out)]) == 0
    assert [entry["computed"] for entry in history(out)] == [4]  # --fresh computes everything again
    assert main(["run", *TINY[:1], "identity", *TINY[2:], "--out", str(out)]) == 0  # --methods identity
    assert [(entry["computed"], entry["reused"]) for entry in history(out)] == [(4, 0), (0, 2)]  # reused: goes on
    capsys.readouterr()


def test_a_run_that_reuses_nothing_starts_the_history_again(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", *TINY, "--out", str(out)]) == 0
    assert main(["run", *TINY[:1], "ants-affine", *TINY[2:], "--seed", "1",
                 "--out", str(out)]) == 0  # another seed: nothing of the first run is left to describe
    assert [(entry["computed"], entry["reused"]) for entry in history(out)] == [(2, 0)]
    capsys.readouterr()


def test_a_run_json_from_before_histories_becomes_the_first_entry(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", *TINY, "--out", str(out)]) == 0
    older = json.loads((out / "run.json").read_text())
    older.pop("history")
    older["seconds"] = 1210.0
    (out / "run.json").write_text(json.dumps(older))
    assert main(["run", *TINY, "--out", str(out)]) == 0
    entries = history(out)
    assert entries[0] == {"finished": None, "command": older["command"], "seconds": 1210.0, "computed": None,
                          "reused": older["reused_results"]}
    assert entries[1]["reused"] == 4
    capsys.readouterr()
