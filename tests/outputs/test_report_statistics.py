"""The report's statistical comparisons (regbench.outputs.report.statistics) on small
synthetic tables, against oracles computed by hand or published: Holm's adjustment,
Demšar's critical differences, shifts built into the data."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from regbench.outputs.report import statistics
from regbench.outputs.report.statistics import (
    DIFFERENCE,
    HIGH,
    LOW,
    P_HOLM,
    P_WILCOXON,
    PAIRS,
    TO_BEST,
    VERDICT,
    VERSUS_BEST,
    across_datasets_section,
    comparison_sections,
    critical_difference,
    paired_comparisons,
    rank_diagram,
    readable,
    versus_best,
)
from regbench.plugin.metric import Column

DICE = Column("dice", "Dice", better="higher", per_label=True, format=".4f")
HD95 = Column("hd95", "HD95 (mm)", better="lower", per_label=True, format=".4g")


def pairs_table(values: dict[str, np.ndarray], column: Column = DICE, failed: dict[str, list[int]] | None = None
                ) -> pd.DataFrame:
    """One row per method × pair, as :func:`regbench.outputs.seeds.pair_means` gives them."""
    failed = failed or {}
    return pd.DataFrame([{"method": method, "pair": f"pair{index:02d}",
                          "status": "failed" if index in failed.get(method, []) else "ok",
                          column.result_column: value}
                         for method, series in values.items() for index, value in enumerate(series)])


@pytest.fixture
def clear_best() -> dict[str, np.ndarray]:
    """``good`` is ``base`` shifted up by 0.05 with little noise; ``twin`` is ``base`` again."""
    rng = np.random.default_rng(7)
    base = rng.uniform(0.6, 0.8, 20)
    return {"base": base, "twin": base.copy(), "good": base + 0.05 + rng.normal(0, 0.005, 20),
            "noisy": base + rng.normal(0, 0.01, 20)}


def row(table: pd.DataFrame, a: str, b: str) -> pd.Series:
    return table[(table["method A"] == a) & (table["method B"] == b)].iloc[0]


def test_holm_adjusts_over_every_tested_comparison(monkeypatch):
    """Three comparisons with Wilcoxon p 0.01, 0.04, 0.03: Holm gives 0.03, 0.06, 0.06
    (sorted: 3 × 0.01; 2 × 0.03 = 0.06; 1 × 0.04, raised to the running maximum 0.06)."""
    raw = iter([0.01, 0.04, 0.03])
    monkeypatch.setattr(statistics.stats, "wilcoxon", lambda a, b: type("R", (), {"pvalue": next(raw)})())
    rng = np.random.default_rng(0)
    table = paired_comparisons(pairs_table({m: rng.random(8) for m in "abc"}), DICE, ["a", "b", "c"])
    np.testing.assert_allclose(table[P_WILCOXON], [0.01, 0.04, 0.03])
    np.testing.assert_allclose(table[P_HOLM], [0.03, 0.06, 0.06])
    assert list(table[VERDICT].str.endswith("better")) == [True, False, False]


def test_critical_difference_matches_demsar_table_5():
    """Demšar (2006), table 5: q_0.05 = 2.569 for k = 4 and 2.728 for k = 5; CD = q √(k(k+1)/(6N))."""
    assert critical_difference(4, 10) == pytest.approx(2.569 * np.sqrt(4 * 5 / 60), abs=1e-3)
    assert critical_difference(5, 14) == pytest.approx(2.728 * np.sqrt(5 * 6 / 84), abs=1e-3)
    assert critical_difference(2, 30) == pytest.approx(1.960 * np.sqrt(2 * 3 / 180), abs=1e-3)


def test_a_clearly_better_method_is_found_and_is_the_best(clear_best):
    methods = list(clear_best)
    table = paired_comparisons(pairs_table(clear_best), DICE, methods)
    assert len(table) == 6 and list(table["method A"]) == ["base", "base", "base", "twin", "twin", "good"]
    assert row(table, "base", "good")[VERDICT] == "good better"
    assert row(table, "good", "noisy")[VERDICT] == "good better"
    assert row(table, "base", "good")[P_HOLM] < 1e-4
    best = versus_best(pairs_table(clear_best), DICE, methods)
    assert list(best.index) == ["good", "base", "twin", "noisy"]
    assert best.at["good", VERSUS_BEST] == "best"
    assert (best.loc[["base", "twin", "noisy"], VERSUS_BEST] == "no").all()
    assert best.at["base", TO_BEST] == pytest.approx(-0.05, abs=0.005)  # method − best
    assert best.at["base", LOW] < best.at["base", TO_BEST] < best.at["base", HIGH] < 0
    assert best.at["base", P_HOLM] == row(table, "base", "good")[P_HOLM]  # the same family as the full table


def test_identical_methods_get_no_p_and_leave_holms_family(clear_best):
    table = paired_comparisons(pairs_table(clear_best), DICE, list(clear_best))
    twins = row(table, "base", "twin")
    assert np.isnan(twins[P_WILCOXON]) and np.isnan(twins[P_HOLM]) and "identical" in twins[VERDICT]
    tested = table[P_WILCOXON].notna()
    assert tested.sum() == 5
    smallest = table.loc[tested, P_WILCOXON].idxmin()
    assert table.at[smallest, P_HOLM] == pytest.approx(5 * table.at[smallest, P_WILCOXON])  # a family of 5, not 6
    shown = readable(table, DICE)
    assert shown.loc[twins.name, P_WILCOXON] == "-" and shown.loc[twins.name, P_HOLM] == "-"


def test_two_methods_level_on_noise_are_not_told_apart():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.6, 0.8, 15)
    values = {"a": base, "b": base + rng.normal(0, 0.01, 15)}
    table = paired_comparisons(pairs_table(values), DICE, ["a", "b"])
    assert table.at[1, P_HOLM] >= 0.05 and table.at[1, VERDICT] == "no difference at α = 0.05"
    assert versus_best(pairs_table(values), DICE, ["a", "b"]).iloc[1][VERSUS_BEST] == "yes"


def test_lower_is_better_ranks_the_lower_best():
    rng = np.random.default_rng(5)
    base = rng.uniform(3, 6, 12)
    values = {"loose": base, "tight": base - 1 + rng.normal(0, 0.05, 12)}
    table = paired_comparisons(pairs_table(values, HD95), HD95, ["loose", "tight"])
    assert table.at[1, VERDICT] == "tight better"
    assert table.at[1, DIFFERENCE] == pytest.approx(1, abs=0.1)  # loose − tight
    best = versus_best(pairs_table(values, HD95), HD95, ["loose", "tight"])
    assert best.index[0] == "tight" and best.at["loose", TO_BEST] > 0


def test_the_interval_is_the_order_statistics_of_the_binomial_table():
    """For 30 pairs the distribution-free 95 % interval of the median is [d(10), d(21)],
    the 10th and 21st smallest differences (P(Bin(30, ½) ≤ 9) = 0.021 ≤ 0.025 per tail)."""
    rng = np.random.default_rng(11)
    a = rng.uniform(0.5, 0.9, 30)
    values = {"a": a, "b": a + 0.02 + rng.laplace(0, 0.01, 30)}
    table = paired_comparisons(pairs_table(values), DICE, ["b", "a"])
    ordered = np.sort(values["b"] - a)
    assert (table.at[1, LOW], table.at[1, HIGH]) == (ordered[9], ordered[20])
    assert table.at[1, DIFFERENCE] == pytest.approx(np.median(ordered))


def test_the_interval_brackets_the_constructed_shift_at_least_95_percent_of_the_time(monkeypatch):
    """b = a + 0.02 + noise with median 0: over 200 such tables of 20 pairs, the interval
    holds 0.02 in about 96 % (conservative: ≥ 95 % is promised)."""
    # One comparison: Holm's p is Wilcoxon's; statsmodels' Holm runs gc.collect() on each call (~0.07 s).
    monkeypatch.setattr(statistics, "multipletests", lambda p, alpha, method: (None, np.asarray(p)))
    rng = np.random.default_rng(12)
    covered = 0
    for _ in range(200):
        a = rng.uniform(0.5, 0.9, 20)
        table = paired_comparisons(pairs_table({"b": a + 0.02 + rng.laplace(0, 0.01, 20), "a": a}), DICE, ["b", "a"])
        covered += table.at[1, LOW] <= 0.02 <= table.at[1, HIGH]
    assert covered >= 0.92 * 200


def test_failed_pairs_are_left_out_and_few_pairs_are_not_tested():
    rng = np.random.default_rng(2)
    values = {"a": rng.random(5), "b": rng.random(5) + 1, "c": rng.random(5)}
    means = pairs_table(values, failed={"b": [0, 1], "c": [0, 1, 2, 3]})
    table = paired_comparisons(means, DICE, ["a", "b", "c"])
    assert list(table[PAIRS]) == [3, 1, 1]
    assert np.isnan(table.at[1, LOW])  # 3 pairs: too few for a distribution-free 95 % interval
    assert table.at[1, P_WILCOXON] == pytest.approx(0.25)  # exact: 3 pairs all one way, 2 / 2³
    assert list(table[VERDICT])[1:] == ["fewer than 2 pairs: not tested"] * 2
    assert table[P_HOLM].notna().sum() == 1
    assert versus_best(means, DICE, ["a", "b", "c"]).at["c", VERSUS_BEST] == "not tested (fewer than 2 pairs)"


def test_readable_cells():
    table = pd.DataFrame({"method A": ["a", "a"], "method B": ["b", "c"], PAIRS: [20, 1],
                          DIFFERENCE: [0.012345, np.nan], LOW: [0.0101, np.nan], HIGH: [0.0145, np.nan],
                          P_WILCOXON: [3.14e-11, np.nan], P_HOLM: [0.01234, np.nan], VERDICT: ["a better", "-"]})
    shown = readable(table, DICE)
    assert shown.at[0, f"{DIFFERENCE} [95 % CI]"] == "0.0123 [0.0101, 0.0145]"
    assert shown.at[0, P_WILCOXON] == "3.1e-11" and shown.at[0, P_HOLM] == "0.012"
    assert shown.at[1, f"{DIFFERENCE} [95 % CI]"] == "-" and shown.at[1, P_HOLM] == "-"
    assert LOW not in shown and HIGH not in shown


def test_rank_diagram_is_written_with_ranks_by_direction(tmp_path):
    rng = np.random.default_rng(1)
    base = rng.uniform(2, 8, 10)
    scores = pd.DataFrame({"worst": base + 2, "middle": base + 1, "best": base})  # HD95: lower is better
    drawn = rank_diagram(scores, HD95, tmp_path, "hd95_ranks")
    assert drawn is not None
    path, caption = drawn
    assert path == tmp_path / "hd95_ranks.png"
    assert matplotlib.image.imread(path).shape[0] > 50
    assert f"CD = {critical_difference(3, 10):.3g}" in caption and "N = 10" in caption and "k = 3" in caption
    assert "Friedman's test: p = 4.5e-05." in caption  # χ² = 20 on 2 degrees of freedom: exp(−10)


def test_rank_diagram_ranks_higher_dice_first(tmp_path, monkeypatch):
    drawn_ranks = {}
    monkeypatch.setattr(statistics.sp, "critical_difference_diagram",
                        lambda ranks, sig, **kw: drawn_ranks.update(ranks.to_dict()))
    scores = pd.DataFrame({"low": [0.5, 0.6, 0.55], "high": [0.7, 0.8, 0.75]})
    assert rank_diagram(scores, DICE, tmp_path, "dice_ranks") is not None
    assert drawn_ranks == {"low": 2.0, "high": 1.0}


def test_rank_diagram_joins_all_when_friedman_does_not_reject(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(statistics.sp, "critical_difference_diagram",
                        lambda ranks, sig, **kw: drawn.update(sig=sig.copy()))
    rng = np.random.default_rng(4)
    scores = pd.DataFrame(rng.random((6, 3)), columns=["a", "b", "c"])
    _, caption = rank_diagram(scores, DICE, tmp_path, "noise")
    assert "no difference shown" in caption
    assert (drawn["sig"] == 1.0).all().all()


def test_rank_diagram_none_cases_and_missing_values(tmp_path):
    assert rank_diagram(pd.DataFrame({"a": [0.1, 0.2, 0.3]}), DICE, tmp_path, "one_method") is None
    assert rank_diagram(pd.DataFrame({"a": [0.1], "b": [0.2]}), DICE, tmp_path, "one_block") is None
    with pytest.raises(ValueError, match="complete blocks"):
        rank_diagram(pd.DataFrame({"a": [0.1, np.nan], "b": [0.2, 0.3]}), DICE, tmp_path, "gap")
    assert not list(tmp_path.iterdir())


def test_comparison_sections(clear_best, tmp_path):
    means = pairs_table(clear_best, failed={"noisy": [0]})
    sections = comparison_sections(means, DICE, list(clear_best), tmp_path)
    assert [section.title for section in sections] == ["Versus the best", "Dice: mean ranks over test pairs",
                                                       "Paired comparison"]
    assert [section.folded for section in sections] == [False, False, True]
    assert sections[0].table.index[0] == "good" and "Holm" in sections[0].text
    assert sections[1].figure.exists() and "19 of 20" in sections[1].text
    assert len(sections[2].table) == 6
    assert comparison_sections(means, HD95, list(clear_best), tmp_path) == []  # no HD95 in these results


def test_across_datasets_section(tmp_path):
    rng = np.random.default_rng(9)
    by_dataset = {}
    for index, name in enumerate(["one", "two", "three", "four"]):
        base = rng.uniform(0.5, 0.7, 6) + 0.05 * index
        values = {"strong": base + 0.1, "weak": base, "middle": base + 0.05}
        if name != "four":
            values["partial"] = base + 0.2
        by_dataset[name] = pairs_table(values)
    section = across_datasets_section(by_dataset, DICE, ["weak", "middle", "strong", "partial"], tmp_path)
    assert section is not None and section.figure.exists()
    assert "N = 4" in section.text and "k = 3" in section.text and "left out: partial" in section.text
    assert f"CD = {critical_difference(3, 4):.3g}" in section.text and "little power" in section.text
    assert across_datasets_section({"one": by_dataset["one"]}, DICE, ["weak", "strong"], tmp_path) is None
    assert across_datasets_section(by_dataset, DICE, ["strong", "partial"], tmp_path) is None  # one complete method
