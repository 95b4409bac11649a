"""The report's long tables: the summary of every metric column, the metric families,
and a per-label metric per label (paired tests between methods: :mod:`.statistics`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from regbench.outputs import schema, seeds
from regbench.outputs.report.glance import cell_text, significant
from regbench.outputs.tables import CONTENDED_MARK, marked_names
from regbench.plugin.metric import Column


def _summary_cell(column: Column, values: pd.Series, aggregate: str) -> str:
    if aggregate == "mean":
        return f"{cell_text(column, values.mean())} ± {cell_text(column, values.std(ddof=0))}"
    value = {"max": values.max(), "first": values.iloc[0]}[aggregate]
    return cell_text(column, value)


def summary_table(results: pd.DataFrame, columns: Sequence[Column], means: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per method: each metric column as mean ± std over pairs (and its robust
    quantile where declared, e.g. DSC30), then the time, memory and training columns,
    and the share of the CPU other processes used while it was timed (‡: contended); a
    method trained on a budget that ended before it converged is marked †. With several
    seeds, a pair's value is its mean over seeds: ``means``, when the caller has them
    (:func:`regbench.outputs.seeds.pair_means` of ``results``; the spread across seeds
    is :func:`regbench.outputs.seeds.spread_table`'s)."""
    rows, names = {}, marked_names(results)
    for method, group in (seeds.pair_means(results) if means is None else means).groupby("method", sort=False):
        ok = group[group["status"] == schema.OK]
        row: dict[str, object] = {}
        summarised = [(column, "mean") for column in columns]
        summarised += [(column, column.aggregate) for column in schema.SUMMARISED]
        for column, aggregate in summarised:
            values = ok[column.result_column].dropna() if column.result_column in ok else pd.Series(dtype=float)
            row[column.heading] = _summary_cell(column, values, aggregate) if len(values) else None
            if column.name == "train_seconds" and len(values) and schema.training_contended(
                    results[results["method"] == method]):
                row[column.heading] += CONTENDED_MARK
            if column.robust is not None:
                quantile, heading = column.robust
                row[heading] = cell_text(column, np.quantile(values, quantile)) if len(values) else None
        share = schema.contention(ok)
        row["CPU used by others"] = (f"{share:.0%}{CONTENDED_MARK if share > schema.CONTENTION_LIMIT else ''}"
                                     if share == share else None)  # NaN: not measured
        row["pairs ok"] = f"{len(ok)} of {len(group)}"
        rows[names[method]] = row
    table = pd.DataFrame(rows).T.dropna(axis=1, how="all").fillna("-")
    table.index.name = "method"
    return table


# What each metric family's values follow (Column.family); a family not listed is shown by its name.
FAMILIES = {
    "common": "computed as most papers do, e.g. VoxelMorph, TransMorph, MedPy",
    "learn2reg": "exactly as the Learn2Reg challenge's evaluation, comparable with its tables",
}


def families_text(columns: Sequence[Column]) -> str:
    """Which family each metric column belongs to, e.g. "Metric families: common
    (computed as most papers do, ...): Dice, HD95 (mm); learn2reg (...): L2R Dice." """
    by_family: dict[str, list[str]] = {}
    for column in columns:
        by_family.setdefault(column.family or "unstated", []).append(column.heading)
    parts = [f"{family} ({FAMILIES[family]}): {', '.join(headings)}" if family in FAMILIES
             else f"{family}: {', '.join(headings)}" for family, headings in by_family.items()]
    return f"Metric families: {'; '.join(parts)}." if parts else ""


def label_table(label_metrics: pd.DataFrame, metric: str = "dice") -> pd.DataFrame:
    """Mean ± std over pairs of a per-label metric: labels as rows, methods as columns."""
    grouped = label_metrics.groupby(["label", "method"], sort=False)[metric]
    cells = grouped.mean().map(significant) + " ± " + grouped.std(ddof=0).map(significant)
    table = cells.unstack("method")
    order = label_metrics.drop_duplicates("label").sort_values("label_id")["label"]
    return table.loc[order]

