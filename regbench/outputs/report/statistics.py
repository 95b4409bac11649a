"""The report's statistical comparisons between methods, in a form a reviewer accepts.

Within one dataset, methods are paired over the test pairs both succeeded on: the
median of the per-pair differences with a distribution-free confidence interval, the
two-sided Wilcoxon signed-rank test, and Holm's correction over every pair of methods
compared (:func:`paired_comparisons`), summed up against the best method
(:func:`versus_best`). Over blocks (the test pairs of one dataset, or datasets), Demšar's
critical-difference diagram of mean ranks: Friedman's test, then Nemenyi's post-hoc test
(:func:`rank_diagram`). Tables come as numbers; :func:`readable` is how the report shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from matplotlib.figure import Figure
from scipy import stats
from statsmodels.stats.multitest import multipletests

from regbench.outputs import schema
from regbench.outputs.report import datasets, figures
from regbench.outputs.report.glance import best_method, cell_text, significant
from regbench.outputs.report.render import Section
from regbench.plugin.metric import Column

ALPHA = 0.05  # the significance level of every test and verdict here
CONFIDENCE = 0.95  # of the median differences' intervals

# The tables' columns (raw, as the functions return them).
METHOD_A, METHOD_B, METHOD, PAIRS, MEAN = "method A", "method B", "method", "pairs", "mean"
DIFFERENCE, TO_BEST = "median difference (A − B)", "median difference (method − best)"
LOW, HIGH = "CI low", "CI high"
P_WILCOXON, P_HOLM = "p (Wilcoxon)", "p (Holm)"
VERDICT, VERSUS_BEST = "verdict", "indistinguishable from the best"

# Why a pair of methods is not tested (its verdict); such pairs are left out of Holm's family.
IDENTICAL, TOO_FEW = "identical on every pair: not tested", "fewer than 2 pairs: not tested"


def _directed(column: Column) -> None:
    if column.better not in ("higher", "lower"):
        raise ValueError(f"{column.heading} has no direction (better: higher or lower): methods cannot be ranked by it")


def _wide(means: pd.DataFrame, column: Column, methods: Sequence[str]) -> pd.DataFrame:
    """One row per test pair, one column per method of ``methods``: ``column`` where the method succeeded."""
    ok = means[means["status"] == schema.OK]
    return ok.pivot(index="pair", columns="method", values=column.result_column).reindex(columns=list(methods))


def _compare(both: pd.DataFrame, a: str, b: str) -> tuple[dict[str, object], int]:
    """One row of :func:`paired_comparisons` (its Holm p and verdict still to come), and
    which way the signed ranks lean (+1: A's values higher), which decides the verdict
    even where most differences are 0 and the median difference with them."""
    differences = (both[a] - both[b]).to_numpy()
    row: dict[str, object] = {METHOD_A: a, METHOD_B: b, PAIRS: len(both), DIFFERENCE: np.nan, LOW: np.nan,
                              HIGH: np.nan, P_WILCOXON: np.nan, VERDICT: None}
    if len(both) < 2:
        row[VERDICT] = TOO_FEW
        return row, 0
    interval = stats.quantile_test(differences, p=0.5).confidence_interval(CONFIDENCE)
    row.update({DIFFERENCE: np.median(differences), LOW: interval.low, HIGH: interval.high})
    if np.allclose(both[a], both[b]):
        row[VERDICT] = IDENTICAL
        return row, 0
    row[P_WILCOXON] = stats.wilcoxon(both[a], both[b]).pvalue
    nonzero = differences[differences != 0]
    return row, int(np.sign(np.sum(np.sign(nonzero) * stats.rankdata(np.abs(nonzero)))))


def paired_comparisons(means: pd.DataFrame, column: Column, methods: Sequence[str]) -> pd.DataFrame:
    """Every pair of methods, in the order of ``methods`` (the report's), compared over
    the test pairs both succeeded on, so that a pair hard for every method counts once
    per comparison rather than against whoever happened to run it.

    ``means``: one row per method × pair, with several seeds each pair's mean over
    seeds (:func:`regbench.outputs.seeds.pair_means`); ``column``: with a direction.
    Per pair of methods A, B: ``pairs`` (how many test pairs), the median of the per-pair
    differences A − B and its 95 % confidence interval (``CI low``, ``CI high``), the
    distribution-free one from order statistics (:func:`scipy.stats.quantile_test`: no
    seed, no assumption on the differences' distribution; NaN with fewer than 6 pairs,
    too few for 95 %); the two-sided Wilcoxon signed-rank p; that p Holm-adjusted over
    every comparison tested in the table, since a report reading many pairs would
    otherwise find "significant" differences by chance; and the verdict at α = 0.05 on
    the Holm p, e.g. ``vxm1 better``. Methods identical on every pair (``allclose``:
    identity against itself) or with fewer than 2 pairs are not tested (p NaN; the
    verdict says why) and are not counted in Holm's family.
    """
    _directed(column)
    wide = _wide(means, column, methods)
    compared = [_compare(wide[[a, b]].dropna(), a, b) for a, b in combinations(methods, 2)]
    table = pd.DataFrame([row for row, _ in compared],
                         columns=[METHOD_A, METHOD_B, PAIRS, DIFFERENCE, LOW, HIGH, P_WILCOXON, VERDICT])
    table.insert(len(table.columns) - 1, P_HOLM, np.nan)
    tested = table[P_WILCOXON].notna()
    if tested.any():
        table.loc[tested, P_HOLM] = multipletests(table.loc[tested, P_WILCOXON], alpha=ALPHA, method="holm")[1]
    for index, (_, lean) in enumerate(compared):
        if pd.isna(table.at[index, VERDICT]):
            a_better = (lean > 0) == (column.better == "higher")
            table.at[index, VERDICT] = (f"no difference at α = {ALPHA:g}" if table.at[index, P_HOLM] >= ALPHA
                                        else f"{table.at[index, METHOD_A if a_better else METHOD_B]} better")
    table.index = pd.RangeIndex(1, len(table) + 1, name="comparison")
    return table


def versus_best(means: pd.DataFrame, column: Column, methods: Sequence[str]) -> pd.DataFrame:
    """The comparison a reader takes in at a glance: the best method by its mean
    ``column`` over its successful pairs (:func:`.glance.best_method`: the summary's,
    the floor left out), then every other method of ``methods``: its median difference to the
    best (method − best) with the 95 % interval, the Holm p of that comparison in
    :func:`paired_comparisons`' family (so the two tables never disagree), and whether
    it is indistinguishable from the best (Holm p ≥ 0.05; ``yes (identical)`` for values
    identical on every pair; ``not tested`` with fewer than 2 pairs). Indistinguishable is
    not equal: with few pairs the test has little power. One row per method, the best
    first; ``means`` as in :func:`paired_comparisons`, at least one method with a value.
    """
    ok = means[means["status"] == schema.OK]
    averages = ok.groupby("method", sort=False)[column.result_column].mean().astype(float).reindex(list(methods))
    best = best_method(means, column, methods)
    pairwise = paired_comparisons(means, column, methods)
    rows = [{METHOD: best, MEAN: averages[best], PAIRS: ok.loc[ok["method"] == best, column.result_column].count(),
             VERSUS_BEST: "best"}]
    for method in (method for method in methods if method != best):
        found = pairwise[((pairwise[METHOD_A] == method) & (pairwise[METHOD_B] == best))
                         | ((pairwise[METHOD_A] == best) & (pairwise[METHOD_B] == method))].iloc[0]
        sign = 1 if found[METHOD_A] == method else -1
        low, high = (found[LOW], found[HIGH]) if sign > 0 else (-found[HIGH], -found[LOW])
        verdict = {IDENTICAL: "yes (identical)", TOO_FEW: "not tested (fewer than 2 pairs)"}.get(
            found[VERDICT], "yes" if found[P_HOLM] >= ALPHA else "no")
        rows.append({METHOD: method, MEAN: averages[method], PAIRS: found[PAIRS], TO_BEST: sign * found[DIFFERENCE],
                     LOW: low, HIGH: high, P_HOLM: found[P_HOLM], VERSUS_BEST: verdict})
    return pd.DataFrame(rows, columns=[METHOD, MEAN, PAIRS, TO_BEST, LOW, HIGH, P_HOLM, VERSUS_BEST]).set_index(METHOD)


def _number(value: float) -> str:
    return "-" if pd.isna(value) else significant(value)


def _p(value: float) -> str:
    """A p-value at two significant digits (``0.012``, ``3.1e-11``); ``-``: not tested."""
    return "-" if pd.isna(value) else f"{value:.2g}"


def readable(table: pd.DataFrame, column: Column) -> pd.DataFrame:
    """:func:`paired_comparisons` or :func:`versus_best` as the report shows them: each
    median difference with its interval in one cell, ``0.0123 [0.0101, 0.0145]`` (3
    significant digits, as the summary's cells), p-values at 2 (``3.1e-11``), means as the summary shows them,
    ``-`` where there is no value."""
    shown = table.copy()
    for heading in (DIFFERENCE, TO_BEST):
        if heading in shown:
            shown[heading] = [_number(value) + (f" [{_number(low)}, {_number(high)}]" if pd.notna(low) else "")
                              for value, low, high in zip(shown[heading], shown[LOW], shown[HIGH], strict=True)]
            shown = shown.drop(columns=[LOW, HIGH]).rename(columns={heading: f"{heading} [{CONFIDENCE * 100:g} % CI]"})
    for heading in (P_WILCOXON, P_HOLM):
        if heading in shown:
            shown[heading] = shown[heading].map(_p)
    if MEAN in shown:
        shown[MEAN] = shown[MEAN].map(lambda value: "-" if pd.isna(value) else cell_text(column, value))
        shown = shown.rename(columns={MEAN: f"mean {column.heading}"})
    return shown


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference in mean rank between ``k`` methods over ``n`` blocks,
    CD = q_α √(k(k+1)/(6n)), q_α the studentized range's quantile over √2 (Demšar 2006, eq. 5
    and table 5): two methods whose mean ranks differ by less do not differ at ``alpha``."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6 * n)))


def rank_diagram(scores: pd.DataFrame, column: Column, out: Path, name: str) -> tuple[Path, str] | None:
    """Demšar's critical-difference diagram, written to ``out/NAME.png``, and its caption:
    each method's mean rank over the blocks (1: the best by ``column``'s direction), and
    bars joining the methods Nemenyi's post-hoc test does not tell apart at α = 0.05.
    Ranks, unlike raw means, let blocks on different scales (easy and hard pairs, or
    datasets) count alike. Post-hoc differences are drawn only where Friedman's test
    rejects equal ranks (with two methods it is Nemenyi's own test); otherwise one bar
    joins all. Ranks are :func:`.datasets.ranks`': values equal as printed tie.

    ``scores``: one row per block (a test pair within one dataset, or a dataset), one
    column per method, no missing value: the caller keeps only the blocks and methods
    that are complete, since Friedman's test needs every method ranked on every block.
    None with fewer than 2 methods or 2 blocks.
    """
    _directed(column)
    if scores.isna().any().any():
        raise ValueError("rank_diagram needs complete blocks: pass only blocks and methods without missing values")
    n, k = scores.shape
    if n < 2 or k < 2:
        return None
    ranks = datasets.ranks(scores.T, column).T
    mean_ranks, cd = ranks.mean(), critical_difference(k, n)
    nemenyi = sp.posthoc_nemenyi_friedman(ranks)  # ranks of ranks are the ranks: direction and ties kept
    text = (f"Mean rank over N = {n} blocks of k = {k} methods (1: the best by {column.heading}, {column.better} is "
            f"better); methods joined by a bar do not differ by Nemenyi's test at α = {ALPHA:g}: critical difference "
            f"CD = {cd:.3g} in mean rank.")
    if k > 2:
        with np.errstate(divide="ignore", invalid="ignore"):  # every block tied: no statistic (p NaN)
            friedman = stats.friedmanchisquare(*(ranks[method] for method in ranks)).pvalue
        shown = f"p = {_p(friedman)}" if pd.notna(friedman) else "no statistic, every method tied on every block"
        if not friedman < ALPHA:
            nemenyi.loc[:, :] = 1.0
            shown += ": no difference shown, so none is drawn between pairs of methods"
        text += f" Friedman's test: {shown}."
    figure = Figure(figsize=(8, 1 + 0.3 * k))
    axis = figure.subplots()
    sp.critical_difference_diagram(mean_ranks, nemenyi, alpha=ALPHA, ax=axis,
                                   label_fmt_left="{label} ({rank:.2f})", label_fmt_right="({rank:.2f}) {label}")
    axis.set_xlim(0.9, k + 0.1)  # every rank a method could have, as Demšar draws it
    axis.set_xticks(range(1, k + 1))
    axis.set_title(f"{column.heading}: mean rank ({column.better} is better), CD = {cd:.2f}", pad=24)
    return figures._save(figure, out / f"{name}.png"), text


def comparison_sections(means: pd.DataFrame, column: Column, methods: Sequence[str],
                        figures_dir: Path) -> list[Section]:
    """The report's comparisons of ``methods`` on one dataset by ``column`` (with a
    direction): versus the best (:func:`versus_best`), the critical-difference diagram
    over the test pairs every method with values succeeded on (:func:`rank_diagram`),
    then every pair of methods (:func:`paired_comparisons`, folded: long). ``means`` as
    in :func:`paired_comparisons`; none when no method has a value of ``column``."""
    if column.result_column not in means or means.loc[means["status"] == schema.OK, column.result_column].isna().all():
        return []
    sections = [Section("Versus the best", f"The best method by mean {column.heading} ({column.better} is better), "
                                           "then each other method over the test pairs both succeeded on: the median "
                                           "of its per-pair differences to the best, with a distribution-free 95 % "
                                           "confidence interval (order statistics; none with fewer than 6 pairs), and "
                                           "the two-sided Wilcoxon signed-rank p-value, Holm-adjusted over every "
                                           "comparison in the paired table below. Indistinguishable from the best: "
                                           "Holm p ≥ 0.05, which with few pairs is weak evidence of equality.",
                        table=readable(versus_best(means, column, methods), column))]
    wide = _wide(means, column, methods).dropna(axis=1, how="all")
    complete = wide.dropna()
    drawn = rank_diagram(complete, column, figures_dir, f"{column.name}_ranks")
    if drawn:
        left_out = [method for method in methods if method not in complete]
        sections.append(Section(f"{column.heading}: mean ranks over test pairs",
                                f"Demšar's critical-difference diagram, the test pairs as blocks ({len(complete)} of "
                                f"{len(wide)}: those every method shown succeeded on). {drawn[1]}"
                                + (f" Not ranked (no successful pair): {', '.join(left_out)}." if left_out else "")
                                + " Test pairs that share an image (one atlas, the fixed image of every pair) are "
                                  "not independent blocks, as the test assumes: read the bars as a guide.",
                                figure=drawn[0]))
    sections.append(Section("Paired comparison", f"Every pair of methods by {column.heading}, over the test pairs both "
                                                 "succeeded on (with several seeds, each pair's mean over seeds): the "
                                                 "median of the per-pair differences A − B with its distribution-free "
                                                 "95 % confidence interval, the two-sided Wilcoxon signed-rank p, and "
                                                 "that p Holm-adjusted over every comparison tested here; pairs of "
                                                 "methods identical on every pair, or with fewer than 2 pairs, are not "
                                                 "tested nor counted. Verdict at α = 0.05 on the Holm p.",
                            table=readable(paired_comparisons(means, column, methods), column), folded=True))
    return sections


def across_datasets_section(pairs_by_dataset: Mapping[str, pd.DataFrame], column: Column, methods: Sequence[str],
                            figures_dir: Path) -> Section | None:
    """Demšar's critical-difference diagram with datasets as blocks (the setting his test
    was made for): each method's mean ``column`` over its successful pairs on each
    dataset (:func:`.datasets.metric_means`), ranked per dataset. ``pairs_by_dataset``:
    per dataset, one row per method × pair (with several seeds each pair's mean over
    seeds), each with ``column`` (the combined report's primary column). Only the
    methods that have a value on every dataset are ranked; None with fewer than 2
    datasets or 2 such methods."""
    scores = pd.DataFrame({label: datasets.metric_means(pairs, [column])[column.name]
                           for label, pairs in pairs_by_dataset.items()}).reindex(list(methods))
    complete = scores.dropna()
    drawn = rank_diagram(complete.T, column, figures_dir, f"{column.name}_ranks_datasets")
    if drawn is None:
        return None
    left_out = [method for method in methods if method not in complete.index]
    text = (f"Demšar's critical-difference diagram, the {scores.shape[1]} datasets as blocks: each method's mean "
            f"{column.heading} over its successful pairs on each dataset, ranked per dataset. {drawn[1]} Only methods "
            "with results on every dataset are ranked"
            + (f" (left out: {', '.join(left_out)})" if left_out else "")
            + ". With very few datasets the test has little power: methods joined by a bar were not shown to "
              "differ, which is not evidence that they are equal.")
    return Section(f"{column.heading}: mean ranks across datasets", text, figure=drawn[0])
