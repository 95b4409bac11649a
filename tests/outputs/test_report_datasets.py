"""`regbench report DIR1 DIR2 ...`: one report across datasets. The ranking (mean rank
over the datasets a method ran on, ties shared, fewer datasets listed below) and the
winners are checked against values worked out by hand, on tiny results folders written
by ``write_run`` from made-up numbers (no registration: fast)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from browser import chromium_driver

from regbench.cli import main
from regbench.outputs.files import RunOutput, write_run
from regbench.outputs.report import datasets
from regbench.outputs.run_info import RunInfo
from regbench.plugin.metric import Column

DICE = Column("dice", "Dice", better="higher", per_label=True, tolerance=0.01, family="common")
HD95 = Column("hd95", "HD95 (mm)", better="lower", per_label=True, format=".4g", family="common")
TRE = Column("tre", "TRE (mm)", better="lower", format=".4g", family="common")

# Mean Dice per method on two datasets, c not run on B. On A, a and b read 0.7000 as
# printed: a tie, ranks 2 and 3 shared (2.5 each); c is first. On B, b is first, a second.
# Mean ranks: a (2.5 + 2) / 2 = 2.25, b (2.5 + 1) / 2 = 1.75, c 1 (on one dataset only).
A = {"a": 0.70001, "b": 0.70004, "c": 0.9}
B = {"a": 0.6, "b": 0.9}


def write_folder(path: Path, dataset: str, dice: dict[str, float], *, seeds: tuple[int, ...] = (0,),
                 options: dict | None = None, tre: bool = False) -> Path:
    """A results folder of two pairs per method and seed, each method's mean Dice as given
    (the pairs ± 0.05, each seed + 0.01 × seed), its HD95 10 × (1 - Dice), TRE if asked."""
    rows = [{"method": method, "seed": seed, "pair": pair, "status": "ok", "seconds": 0.1,
             "dice_mean": mean + offset + 0.01 * seed, "dice_std": 0.1,
             "hd95_mean": 10 * (1 - mean - offset), "hd95_std": 1.0, **({"tre": 5 * (1 - mean)} if tre else {})}
            for method, mean in dice.items() for seed in seeds for pair, offset in (("p1", -0.05), ("p2", 0.05))]
    columns = (DICE, HD95, *((TRE,) if tre else ()))
    info = RunInfo(command=f"regbench run --dataset {dataset}", dataset=dataset, dataset_options=options or {},
                   methods=tuple(dice), seeds=seeds, training={}, columns=columns)
    write_run(path, RunOutput(pd.DataFrame(rows), pd.DataFrame(), pd.DataFrame()), info)
    return path


@pytest.fixture
def two(tmp_path) -> tuple[Path, Path]:
    """Dataset A (three methods, with TRE, seeds 0 and 1) and dataset B (two methods, seed 0)."""
    return (write_folder(tmp_path / "run-a", "A", A, seeds=(0, 1), tre=True),
            write_folder(tmp_path / "run-b", "B", B))


SCORES = pd.DataFrame({"A": A, "B": B})


def test_mean_rank_by_hand_with_a_tie_and_a_missing_dataset():
    ranked = datasets.ranking(SCORES, DICE)
    assert list(ranked.index) == ["b", "a", "c"]  # c's mean rank is the best, on one dataset of two: last
    assert ranked.loc["a", "A"] == ranked.loc["b", "A"] == 2.5 and ranked.loc["c", "A"] == 1
    assert ranked.loc["b", "B"] == 1 and ranked.loc["a", "B"] == 2 and pd.isna(ranked.loc["c", "B"])
    assert ranked["mean rank"].to_dict() == {"b": 1.75, "a": 2.25, "c": 1.0}
    assert ranked["datasets"].to_dict() == {"b": 2, "a": 2, "c": 1}


def test_ranking_table_reads_rank_and_mean_per_dataset():
    table = datasets.ranking_table(SCORES, DICE)
    assert list(table.columns) == ["mean rank", "datasets", "A (rank of 3)", "B (rank of 2)"]
    assert table.loc["a"].tolist() == ["2.25", "2 of 2", "2.5 (0.7000)", "2 (0.6000)"]
    assert table.loc["c"].tolist() == ["1.00", "1 of 2", "1 (0.9000)", "-"]


def test_a_lower_is_better_metric_ranks_the_other_way():
    assert datasets.ranks(SCORES, HD95)["B"].to_dict() == {"a": 1.0, "b": 2.0, "c": pytest.approx(float("nan"),
                                                                                                    nan_ok=True)}


def test_wins_name_every_tied_winner_and_the_unmeasured():
    means = {"A": pd.DataFrame({"dice": A, "hd95": {"a": 3.0, "b": 3.0, "c": 4.0}}),
             "B": pd.DataFrame({"dice": B})}
    table = datasets.wins_table(means, [DICE, HD95])
    assert table.loc["Dice"].to_dict() == {"A": "c (0.9000)", "B": "b (0.9000)"}
    assert table.loc["HD95 (mm)"].to_dict() == {"A": "a, b (3)", "B": "-"}


def test_missing_columns_are_named_per_dataset():
    columns = {"A": [DICE, HD95, TRE], "B": [DICE, HD95]}
    assert datasets.directed(columns) == [DICE, HD95, TRE]
    assert datasets.missing_text(columns, [DICE, HD95, TRE]) == "Not measured: TRE (mm) on B."
    assert datasets.primary(columns) == DICE
    assert datasets.primary({"A": [TRE, HD95], "B": [HD95]}) == HD95  # none judged: the first with a direction
    assert datasets.primary({"A": [TRE], "B": [HD95]}) is None


def test_the_combined_report_ranks_then_shows_each_dataset(two, tmp_path, capsys):
    out = tmp_path / "across"
    assert main(["report", *map(str, two), "--out", str(out)]) == 0
    assert f"wrote {out / 'report.md'}" in capsys.readouterr().out
    markdown = (out / "report.md").read_text()
    headings = [line[3:] for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == ["Datasets", "Dataset A", "Dataset B", "Ranking across datasets", "Wins per dataset",
                        "Dice: mean ranks across datasets", "Dice per dataset", "A: summary", "A: across seeds",
                        "B: summary"]  # B: one seed, no spread
    demsar = markdown.split("## Dice: mean ranks across datasets")[1].split("## ")[0]
    assert "N = 2 blocks of k = 2 methods" in demsar and "(left out: c)" in demsar  # c ran on A only
    ranking = markdown.split("## Ranking across datasets")[1].split("## ")[0]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in ranking.splitlines() if line.startswith("|")]
    assert rows[2:] == [["b", "1.75", "2 of 2", "2.5 (0.7050)", "1 (0.9000)"],  # on A, the mean over seeds
                        ["a", "2.25", "2 of 2", "2.5 (0.7050)", "2 (0.6000)"], ["c", "1", "1 of 2", "1 (0.9050)", "-"]]
    assert "Not measured: TRE (mm) on B." in markdown
    assert "0.7050 ± 0.0071 (2 seeds)" in markdown  # A's spread across seeds (seeds.spread_table)
    assert "regbench run --dataset B" in markdown and "run-b" in markdown
    assert sorted(path.name for path in (out / "report_files").iterdir()) == ["dice_per_dataset.png",
                                                                              "dice_ranks_datasets.png"]
    assert (out / "report.html").read_text().count("<table") == 5  # ranking, wins, A's two, B's summary


def test_one_folder_still_makes_its_own_report(two, tmp_path):
    assert main(["report", str(two[1]), "--out", str(tmp_path / "one")]) == 0
    assert "## Ranking across datasets" not in (tmp_path / "one" / "report.md").read_text()
    assert "## Table 1" in (tmp_path / "one" / "report.md").read_text()


def _usage_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("regbench: error:") == 1 and "Traceback" not in err, err
    return err


def test_two_folders_of_one_dataset_are_an_error_naming_both(two, tmp_path, capsys):
    again = write_folder(tmp_path / "run-b-again", "B", {"a": 0.5})
    err = _usage_error(["report", str(two[1]), str(again), "--out", str(tmp_path / "out")], capsys)
    assert f"{two[1]} and {again} hold the same dataset (B, same options)" in err


def test_one_name_with_other_options_is_told_apart_by_folder(two, tmp_path, capsys):
    other = write_folder(tmp_path / "run-b3d", "B", B, options={"shape": [8, 8, 8]})
    assert main(["report", str(two[1]), str(other), "--out", str(tmp_path / "out")]) == 0
    assert "B (run-b) (rank of 2)" in (tmp_path / "out" / "report.md").read_text()
    assert "## B (run-b3d): summary" in (tmp_path / "out" / "report.md").read_text()


def test_an_unreadable_folder_is_the_single_reports_error(two, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    alone = _usage_error(["report", str(empty)], capsys)
    assert _usage_error(["report", *map(str, two), str(empty), "--out", str(tmp_path / "out")], capsys) == alone
    assert f"{empty / 'results.csv'} not found" in alone


@pytest.mark.parametrize(("out", "message"), [(None, "--out names the folder"), ("run-a", "is one of the results")])
def test_several_folders_need_an_out_of_their_own(two, tmp_path, capsys, out, message):
    argv = ["report", *map(str, two), *(["--out", str(tmp_path / out)] if out else [])]
    assert message in _usage_error(argv, capsys)


def test_the_combined_page_renders_in_headless_chromium(two, tmp_path):
    assert main(["report", *map(str, two), "--out", str(tmp_path / "out")]) == 0
    browser = chromium_driver()
    try:
        browser.get((tmp_path / "out" / "report.html").as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
        tables = browser.execute_script("return document.querySelectorAll('table').length")
    finally:
        browser.quit()
    assert [alt for alt, *_ in images] == ["Dice: mean ranks across datasets", "Dice per dataset"]
    assert all(complete and width > 100 and height > 100 for _, complete, width, height in images)
    assert tables == 5
