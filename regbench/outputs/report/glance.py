"""The report at a glance: the order methods appear in, numbers a reader can take in, the
summary table that fits one window, and which of its values are the best.

One order for every table and figure (:func:`method_order`): the floor (``identity``,
no motion) first, then the classical methods, then the learned ones, each group by its
primary metric, best first. The summary at a glance (:func:`glance_table`) keeps, of
each metric family, the columns a reader compares methods by (:func:`headline`), then
time, memory and training, under a header row of groups; every column stays in the
folded full summary (:func:`regbench.outputs.report.summary.summary_table`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from regbench.outputs import schema, seeds
from regbench.outputs.report import datasets
from regbench.outputs.seeds import SeedMeans
from regbench.outputs.tables import CONTENDED_MARK, FLOOR, marked_names
from regbench.plugin.metric import Column

GROUP_NAMES = {"common": "common metrics", "learn2reg": "Learn2Reg family"}


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, in plain notation between 0.001 and
    10⁴ (0.787, 3.55, 470, 1234) and scientific only outside (5.53e-08); ``0`` for zero."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    if -3 <= magnitude < 4:
        return f"{value:.{max(0, digits - 1 - magnitude)}f}"
    return f"{value:.{digits - 1}e}"


def cell_text(column: Column, value: float) -> str:
    """One summary value: 3 significant digits, or the column's own format for counts."""
    return f"{value:{column.format}}" if column.format.endswith(".0f") else significant(value)


def _texts(column: Column, values: pd.Series) -> pd.Series:
    """:func:`cell_text` of each value, ``-`` where there is none."""
    return values.map(lambda value: cell_text(column, value) if np.isfinite(value) else "-")


def primary(columns: Sequence[Column]) -> Column | None:
    """The column methods are ordered and compared by: the first judged one (a direction
    and a gate tolerance: Dice in a default run), else the first with a direction; the
    combined report's rule (:func:`.datasets.primary`) for one dataset."""
    return datasets.primary({"": columns})


def learned(results: pd.DataFrame) -> set[str]:
    """The methods with trainable parameters or a training time: the learned ones."""
    rows = results[[column for column in ("parameters", "train_seconds") if column in results]]
    return set(results.loc[rows.notna().any(axis=1), "method"])


def method_order(means: SeedMeans, columns: Sequence[Column]) -> list[str]:
    """Every method of the run in the report's order: the floor, then classical, then
    learned methods, each group best first by the mean of :func:`primary` over its
    successful pairs (a method with none last in its group)."""
    methods, ok = list(dict.fromkeys(means.results["method"])), means.pairs[means.pairs["status"] == schema.OK]
    key = primary(columns)
    score = (ok.groupby("method")[key.result_column].mean().astype(float) if key is not None and key.result_column in ok
             else pd.Series(dtype=float))
    trained = learned(means.results)

    def rank(method: str) -> tuple[int, int, float]:
        group = 0 if method in FLOOR else 2 if method in trained else 1
        value = score.get(method, np.nan)
        if pd.isna(value):
            return group, 1, 0.0
        return group, 0, -value if key.better == "higher" else value

    return sorted(methods, key=rank)


def best_method(pairs: pd.DataFrame, column: Column, methods: Sequence[str]) -> str | None:
    """The method of ``methods`` with the best mean ``column`` over its successful pairs
    (``pairs``: one row per method × pair), the floor left out unless no other method
    has a value; ties: the first in ``methods``. The one best of the report: the summary's
    bold, *Versus the best* and the pair viewer's method A. None without any value."""
    ok = pairs[pairs["status"] == schema.OK]
    if column.result_column not in ok:
        return None
    score = ok.groupby("method", sort=False)[column.result_column].mean().astype(float).reindex(list(methods))
    contenders = score.drop(index=[m for m in FLOOR if m in score.index]).dropna()
    contenders = contenders if not contenders.empty else score.dropna()
    if contenders.empty:
        return None
    return str(contenders.idxmax() if column.better == "higher" else contenders.idxmin())


def order_text(columns: Sequence[Column]) -> str:
    """The sentence that tells the reader :func:`method_order`'s rule."""
    key = primary(columns)
    by = f"by mean {key.heading}, best first" if key is not None else "as they ran"
    return (f"Methods in every table and figure: the floor (`identity`, no motion) first, then classical, then "
            f"learned methods, each group {by}.")


def headline(columns: Sequence[Column]) -> list[Column]:
    """The metric columns of the summary at a glance, family by family: those with a
    direction and either one value per label (Dice, HD95), a figure of their own
    (folding, NDV, TRE, the true error), a robust quantile (Learn2Reg's SDlogJ, TRE) or a
    gate tolerance (a plugin's judged metric)."""
    shown = [column for column in columns if column.better is not None
             and (column.per_label or column.figure or column.robust or column.tolerance is not None)]
    families = list(dict.fromkeys(column.family for column in shown))
    return sorted(shown, key=lambda column: families.index(column.family))


def _best(values: pd.Series, column: Column, spread: pd.Series) -> pd.Series:
    """Which of ``values`` (one per method, the floor left out) are the best: the best
    value and every value within the larger of the two methods' std across seeds of it
    (one seed: only an equal value). False where there is no direction or no value."""
    contenders = values.drop(index=[m for m in FLOOR if m in values.index]).dropna()
    best = pd.Series(False, index=values.index)
    if column.better is None or contenders.empty:
        return best
    top = contenders.idxmax() if column.better == "higher" else contenders.idxmin()
    for method, value in contenders.items():
        allowed = np.nanmax([spread.get(method, np.nan), spread.get(top, np.nan), 0.0])
        best[method] = abs(value - contenders[top]) <= allowed
    return best


def glance_table(means: SeedMeans, columns: Sequence[Column]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary at a glance and, of the same shape, which cells are best (bold).

    One row per method in the order of ``means.results``; columns under a header row of
    groups: each family's :func:`headline` columns (per-label scores as mean ± std over
    pairs, with their robust quantile where declared; the others as the mean), then time,
    memory (the RSS increase, where measured, rather than the process's peak), training
    and the successful pairs. With several seeds, a pair's value is its
    mean over seeds, and a value within the seed spread of the best is bold too."""
    ok = means.pairs[means.pairs["status"] == schema.OK]
    methods = list(dict.fromkeys(means.results["method"]))
    cells: dict[tuple[str, str], pd.Series] = {}
    bold: dict[tuple[str, str], pd.Series] = {}
    for column in headline(columns):
        if column.result_column not in ok or ok[column.result_column].isna().all():
            continue
        values = ok.groupby("method")[column.result_column]
        mean, std = values.mean().reindex(methods).astype(float), values.std(ddof=0).reindex(methods).astype(float)
        group = GROUP_NAMES.get(column.family or "", column.family or "metrics")
        text = _texts(column, mean)
        if column.per_label:
            text = pd.Series({m: f"{text[m]} ± {significant(std[m])}" if np.isfinite(mean[m]) else "-"
                              for m in methods})
        cells[group, column.heading] = text
        spread = seeds.spread(means.results, column.result_column)["std"] if means.repeated else pd.Series(dtype=float)
        bold[group, column.heading] = _best(mean, column, spread)
        if column.robust is not None and column.per_label:
            quantile, heading = column.robust
            robust = values.quantile(quantile).reindex(methods).astype(float)
            cells[group, heading] = _texts(column, robust)
            bold[group, heading] = _best(robust, column, pd.Series(dtype=float))
    for column in schema.SUMMARISED:
        if column.result_column not in ok or ok[column.result_column].isna().all():
            continue
        if column.name == "peak_rss_mb" and "rss_increase_mb" in ok and ok["rss_increase_mb"].notna().any():
            continue  # the method's own memory is the increase; the process's peak is in the full summary
        grouped = ok.groupby("method")[column.result_column]
        value = {"mean": grouped.mean, "max": grouped.max, "first": grouped.first}[column.aggregate]()
        value = value.reindex(methods).astype(float)
        text = _texts(column, value)
        if column.name in ("seconds", "train_seconds"):
            busy = ({m for m, rows in ok.groupby("method") if schema.contended(rows)} if column.name == "seconds"
                    else {m for m, rows in means.results.groupby("method") if schema.training_contended(rows)})
            text = pd.Series({m: text[m] + (CONTENDED_MARK if m in busy and np.isfinite(value[m]) else "")
                              for m in methods})
        cells[column.group, column.heading] = text
        bold[column.group, column.heading] = _best(value, column, pd.Series(dtype=float))
    counts = means.pairs.groupby("method")["status"]
    cells["", "pairs ok"] = pd.Series({m: f"{(counts.get_group(m) == schema.OK).sum()} of {len(counts.get_group(m))}"
                                       for m in methods})
    bold["", "pairs ok"] = pd.Series(False, index=methods)
    names = marked_names(means.results)
    table, emphasis = pd.DataFrame(cells), pd.DataFrame(bold)
    for frame in (table, emphasis):
        frame.index = pd.Index([names[m] for m in methods], name="method")
        frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return table, emphasis.fillna(False).astype(bool)
