"""Several seeds of one method: what the tables average, and the spread they report.

A run with ``--seeds`` has one row per method × seed × pair. Two networks can differ by
less than a seed changes either, so every table reads the seeds the same way: per pair,
the mean over the method's seeds (what the per-pair tables, box plots and paired tests
use), and per method, the spread *across seeds* of its mean over pairs: the mean of the
per-seed means ± their sample standard deviation (ddof=1), with the number of seeds. A
method run once (deterministic, or a single-seed run) has no seed spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from regbench.outputs import schema
from regbench.plugin.metric import Column


def seeds_by_method(results: pd.DataFrame) -> dict[str, list[int]]:
    """The seeds each method ran with, in order of appearance."""
    if "seed" not in results:
        return {method: [] for method in dict.fromkeys(results["method"])}
    return {method: list(dict.fromkeys(rows["seed"].dropna().astype(int)))
            for method, rows in results.groupby("method", sort=False)}


def repeated(results: pd.DataFrame) -> bool:
    """Whether some method of ``results`` ran with more than one seed."""
    return any(len(seeds) > 1 for seeds in seeds_by_method(results).values())


def pair_means(results: pd.DataFrame) -> pd.DataFrame:
    """One row per method × pair: numeric columns averaged over the seeds whose pair
    succeeded; ``status`` ok only when every seed's did (``error``: the first failure);
    ``seed`` replaced by ``seeds``, how many ran. ``results`` itself when no method ran
    with several seeds."""
    if not repeated(results):
        return results
    rows = []
    for (_, _), group in results.groupby(["method", "pair"], sort=False):
        ok = group[group["status"] == schema.OK]
        row = group.iloc[0].to_dict()
        source = ok if len(ok) else group
        for column in group.columns:
            if pd.api.types.is_numeric_dtype(group[column]) and column != "seed":
                row[column] = source[column].mean()
        failed = group[group["status"] != schema.OK]
        row["status"] = schema.OK if failed.empty else schema.FAILED
        row["error"] = "" if failed.empty else f"seed {failed['seed'].iloc[0]}: {failed['error'].iloc[0]}"
        row.pop("seed", None)
        row["seeds"] = len(group)
        rows.append(row)
    return pd.DataFrame(rows)


def in_method_order(table: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """``table``'s rows in the order of ``methods`` (stable within a method); ``table``
    itself when it has no method column (an empty training table)."""
    if "method" not in table:
        return table
    rank = {method: index for index, method in enumerate(methods)}
    return table.sort_values("method", key=lambda names: names.map(rank), kind="stable")


@dataclass(frozen=True)
class SeedMeans:
    """A results table with what its readers average over seeds, computed once and handed
    to each of them: ``pairs``, each method × pair's mean over seeds (:func:`pair_means`:
    a pass over every pair with several seeds), and ``repeated``, whether any method ran
    with several seeds."""

    results: pd.DataFrame
    pairs: pd.DataFrame
    repeated: bool

    @classmethod
    def of(cls, results: pd.DataFrame) -> SeedMeans:
        return cls(results, pair_means(results), repeated(results))

    def in_order(self, methods: Sequence[str]) -> SeedMeans:
        """The same means, rows in the order of ``methods`` (:func:`in_method_order`):
        what :meth:`of` gives of the results so ordered, without averaging again."""
        return SeedMeans(in_method_order(self.results, methods), in_method_order(self.pairs, methods), self.repeated)


def per_seed(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """Each method's mean of ``column`` over its successful pairs, per seed: a frame with
    columns method, seed, value."""
    ok = results[results["status"] == schema.OK]
    if column not in ok or "seed" not in ok:
        return pd.DataFrame(columns=["method", "seed", "value"])
    means = ok.groupby(["method", "seed"], sort=False, dropna=False)[column].mean()
    return means.rename("value").reset_index()


def spread(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per method: the mean over seeds of its mean ``column`` over pairs (``mean``), the
    sample std across seeds (``std``; NaN with one seed) and the count (``seeds``)."""
    values = per_seed(results, column).groupby("method", sort=False)["value"]
    table = pd.DataFrame({"mean": values.mean(), "std": values.std(ddof=1), "seeds": values.count()})
    return table.reindex(list(dict.fromkeys(results["method"])))


def spread_table(results: pd.DataFrame, columns: Sequence[Column], run_once: Sequence[str] = ()) -> pd.DataFrame:
    """One row per method, one column per metric: ``mean ± std (n seeds)`` across seeds;
    for a method that ran once, its value and why (``run_once``: deterministic)."""
    table = pd.DataFrame(index=pd.Index(list(dict.fromkeys(results["method"])), name="method"), dtype=object)
    for column in columns:
        for method, row in spread(results, column.result_column).iterrows():
            if np.isnan(row["mean"]):
                cell = "-"
            elif row["seeds"] > 1:
                cell = f"{row['mean']:{column.format}} ± {row['std']:{column.format}} ({row['seeds']:.0f} seeds)"
            else:
                cell = f"{row['mean']:{column.format}} ({'run once' if method in run_once else '1 seed'})"
            table.loc[method, column.heading] = cell
    return table
