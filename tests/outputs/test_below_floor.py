"""A method that scores below identity (no motion) on most pairs is marked § in the
table and the report, with the two mistakes that usually cause it: a plausible-looking
table from a field that points the wrong way is never silent."""

from __future__ import annotations

import pandas as pd

from regbench.cli import main
from regbench.outputs.files import ResultsFolder
from regbench.outputs.report.build import glance_section, in_report_order
from regbench.outputs.tables import below_floor, below_floor_note, console_table


def rows(method: str, dice: list[float], seed: int = 0) -> list[dict]:
    return [{"method": method, "pair": f"p{i}", "seed": seed, "status": "ok", "dice_mean": value, "dice_std": 0.1,
             "seconds": 0.05} for i, value in enumerate(dice)]


def test_a_method_below_identity_on_most_pairs_is_marked_with_the_likely_causes():
    results = pd.DataFrame(rows("identity", [0.5, 0.5, 0.5, 0.5]) + rows("mine", [0.4, 0.45, 0.6, 0.3])
                           + rows("fine", [0.7, 0.4, 0.45, 0.8]))  # below on 2 of 4: not most
    assert below_floor(results) == {"mine": "3 of 4 pairs, mean Dice 0.438 against identity's 0.500"}
    note = below_floor_note(results)
    assert note.startswith("§ scores below identity (no motion) on most pairs (mine: 3 of 4 pairs")
    assert "points the wrong way" in note and "(x, y, z) order" in note and "MethodConformance" in note
    table = console_table(results)
    assert "mine§" in table and "fine§" not in table and "identity§" not in table


def test_seeds_are_averaged_per_pair_and_failed_pairs_do_not_count():
    results = pd.DataFrame(rows("identity", [0.5, 0.5, 0.5]) + rows("mine", [0.2, 0.45, 0.9], seed=0)
                           + rows("mine", [0.9, 0.5, 0.9], seed=1))  # seed means 0.55, 0.475, 0.9: below on 1 of 3
    assert below_floor(results) == {}
    failed = pd.DataFrame(rows("identity", [0.5] * 4) + rows("mine", [0.4, 0.4, 0.7, 0.7]))
    failed.loc[(failed["method"] == "mine") & (failed["pair"] == "p3"), ["status", "dice_mean"]] = ["failed", None]
    assert below_floor(failed) == {"mine": "2 of 3 pairs, mean Dice 0.500 against identity's 0.500"}
    failed.loc[(failed["method"] == "mine") & (failed["pair"] == "p2"), ["status", "dice_mean"]] = ["failed", None]
    assert below_floor(failed) == {}  # 2 pairs both scored: too few to say


def test_without_identity_or_dice_nothing_is_said():
    assert below_floor(pd.DataFrame(rows("mine", [0.1, 0.1]))) == {}
    assert below_floor(pd.DataFrame(rows("identity", [0.5]) + rows("mine", [0.1])).drop(columns="dice_mean")) == {}


def test_a_push_forward_plugin_is_marked_in_the_run_and_its_report(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["-p", "mistaken_plugin", "run", "--methods", "push-forward,identity", "--dataset", "mni2d",
                 "--dataset-option", "n_subjects=20", "--max-pairs", "3", "--no-progress", "--no-isolation",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "push-forward§" in printed and "§ scores below identity (no motion) on most pairs (push-forward: " in printed
    assert "push-forward§" in (out / "table.md").read_text()
    summary = glance_section(*in_report_order(ResultsFolder.read(out, arrays=False)))  # the report's first table
    assert "push-forward§" in summary.table.index and "§ scores below identity" in summary.text
