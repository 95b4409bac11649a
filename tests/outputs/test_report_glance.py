"""The report at a glance: the methods' order, 3 significant digits, the best values in
bold (ties by the seed spread, not by rounding), column groups, folded long tables."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regbench.outputs.report.glance import glance_table, headline, method_order, significant
from regbench.outputs.report.render import Section, to_html, to_markdown
from regbench.outputs.seeds import SeedMeans
from regbench.plugin.metric import Column

DICE = Column("dice", "Dice", better="higher", per_label=True, tolerance=0.01, family="common")
HD95 = Column("hd95", "HD95 (mm)", better="lower", per_label=True, family="common")
FOLDING = Column("folding_percent", "% folding", better="lower", format=".4g", family="common", figure="validity")
MSE = Column("mse", "MSE", better="lower", format=".4g", family="common")
L2R = Column("l2r_dice", "L2R Dice", better="higher", per_label=True, robust=(0.3, "L2R DSC30"), family="learn2reg")
COLUMNS = [DICE, HD95, MSE, L2R, FOLDING]


def results(dice: dict[str, list[float]], *, seeds: int = 1, learned: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows of a run: per method, per seed, one pair per Dice value (seed s adds s/1000)."""
    rows = []
    for method, values in dice.items():
        for seed in range(seeds):
            for index, value in enumerate(values):
                rows.append({"method": method, "pair": f"p{index}", "seed": seed, "status": "ok",
                             "dice_mean": value + seed / 1000, "hd95_mean": 10 - 10 * value, "mse": 0.5,
                             "l2r_dice_mean": value, "folding_percent": 0.0, "seconds": 0.1 + index,
                             "parameters": 1000 if method in learned else np.nan,
                             "train_seconds": 5.0 if method in learned else np.nan})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("value", "text"), [
    (0.78712, "0.787"), (3.5484, "3.55"), (470.339, "470"), (1234.5, "1234"), (0.012345, "0.0123"),
    (5.532e-08, "5.53e-08"), (0.0, "0"), (-0.25, "-0.250"), (123456.0, "1.23e+05"), (float("nan"), "nan")])
def test_three_significant_digits_scientific_only_where_needed(value, text):
    assert significant(value) == text


def test_the_floor_first_then_classical_then_learned_each_best_first():
    frame = results({"vxm": [0.7, 0.72], "identity": [0.5, 0.5], "ants": [0.8, 0.82], "affine": [0.6, 0.6],
                     "eca": [0.75, 0.77]}, learned=("vxm", "eca"))
    assert method_order(SeedMeans.of(frame), COLUMNS) == ["identity", "ants", "affine", "eca", "vxm"]


def test_lower_is_better_orders_by_the_lowest():
    frame = results({"a": [0.7], "b": [0.9]})
    assert method_order(SeedMeans.of(frame), [HD95]) == ["b", "a"]  # b's HD95 is 1, a's 3


def test_headline_columns_are_grouped_by_family_and_leave_out_details():
    assert [column.name for column in headline(COLUMNS)] == ["dice", "hd95", "folding_percent", "l2r_dice"]


def test_the_best_value_is_bold_and_the_floor_never_competes():
    frame = results({"identity": [0.9, 0.9], "a": [0.8, 0.8], "b": [0.7, 0.7]}, learned=("b",))
    table, bold = glance_table(SeedMeans.of(frame), COLUMNS)
    assert list(table.columns.get_level_values(0).unique()) == ["common metrics", "Learn2Reg family", "time",
                                                                "training", ""]
    dice = ("common metrics", "Dice")
    assert table.loc["a", dice] == "0.800 ± 0"
    assert bold[dice].to_dict() == {"identity": False, "a": True, "b": False}
    assert bold["common metrics", "HD95 (mm)"].to_dict() == {"identity": False, "a": True, "b": False}
    # Equal values tie (all zero folding); the robust quantile is its own column, judged alike.
    assert bold["common metrics", "% folding"].to_dict() == {"identity": False, "a": True, "b": True}
    assert table.loc["b", ("Learn2Reg family", "L2R DSC30")] == "0.700"


def test_a_difference_within_the_seed_spread_is_a_tie_but_not_one_hidden_by_rounding():
    # a and b differ by 0.0004 in mean Dice: equal at 3 digits, but with one seed that is not a tie.
    single = results({"a": [0.8004, 0.8004], "b": [0.8, 0.8]})
    _, bold = glance_table(SeedMeans.of(single), COLUMNS)
    assert bold["common metrics", "Dice"].to_dict() == {"a": True, "b": False}
    # With three seeds (each adding 0.001 more), the spread across seeds (0.001) covers the 0.0004.
    repeated = results({"a": [0.8004, 0.8004], "b": [0.8, 0.8]}, seeds=3)
    _, bold = glance_table(SeedMeans.of(repeated), COLUMNS)
    assert bold["common metrics", "Dice"].to_dict() == {"a": True, "b": True}
    # But not a difference larger than it.
    apart = results({"a": [0.81, 0.81], "b": [0.8, 0.8]}, seeds=3)
    _, bold = glance_table(SeedMeans.of(apart), COLUMNS)
    assert bold["common metrics", "Dice"].to_dict() == {"a": True, "b": False}


def test_bold_and_groups_reach_markdown_and_html_escaped(tmp_path: Path):
    frame = results({"a<b>": [0.8], "c": [0.7]})
    table, bold = glance_table(SeedMeans.of(frame), COLUMNS)
    section = Section("Summary", table=table, emphasis=bold)
    markdown, page = to_markdown([section], tmp_path), to_html([section])
    assert "**0.800 ± 0**" in markdown and "| 0.700 ± 0 " in markdown
    assert "<strong>0.800 ± 0</strong>" in page and "a&lt;b&gt;" in page and "<b>" not in page
    assert re.search(r'colspan="3"[^>]*>common metrics</th>', page)  # the row of groups: Dice, HD95, % folding


def test_a_folded_section_is_in_details_in_both_formats(tmp_path: Path):
    section = Section("Table 1", "long", table=pd.DataFrame({"x": [1]}), folded=True)
    for text in (to_markdown([section], tmp_path), to_html([section])):
        assert text.index("<details><summary>Table 1") < text.index("long") < text.index("</details>")
