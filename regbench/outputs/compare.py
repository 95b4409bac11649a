"""``regbench compare CURRENT BASELINE``: the CI gate for accuracy and speed.

For every method of the baseline it compares each gated metric's mean over pairs,
and the speed ratio: the median over pairs of a pair's seconds divided by the
reference workload's, timed by the same worker process just before each timing
(:mod:`regbench.measuring.reference`), so that a slower machine does not read as a
slower method. Speed is not judged at all for a method that either run measured
while other processes used more than :data:`schema.CONTENTION_LIMIT` of the CPU: the
gate says so and exits with :data:`SPEED_NOT_JUDGED` rather than calling it a
regression (or passing it). A metric is gated when its column declaration
(:class:`regbench.Column`) gives a ``tolerance`` (Dice: 0.01), or when one is given
here. A method regresses when a gated metric gets worse by more than its tolerance,
when its speed ratio grows by more than ``speed_factor``, when it fails pairs the
baseline did not, or when it is missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from regbench.outputs import schema
from regbench.outputs.files import RESULTS_FILE, ResultsFolder
from regbench.plugin.metric import Column

# Below this many seconds per pair, timing noise dominates: the speed check is skipped.
MIN_TIMED_SECONDS = 1e-3
REGRESSION = 1  # exit status: a method regressed
SPEED_NOT_JUDGED = 3  # exit status: no regression found, but some speed was measured under contention


@dataclass(frozen=True)
class Thresholds:
    speed_factor: float = 1.5  # allowed growth of the speed ratio
    tolerances: Mapping[str, float] = field(default_factory=dict)  # metric name -> tolerance, over the declared


def read_results(folder: Path) -> ResultsFolder:
    """The folder's tables (no arrays); a clear error when it cannot be compared."""
    results = ResultsFolder.read(folder, arrays=False)
    if "reference_seconds" not in results.results:
        raise ValueError(f"{folder / RESULTS_FILE} has no reference_seconds column: "
                         f"rerun it with this version of regbench")
    return results


def gated_columns(folders: Sequence[ResultsFolder], thresholds: Thresholds) -> list[Column]:
    """The metric columns with a tolerance (declared, or given in ``thresholds``), by name."""
    by_name: dict[str, Column] = {}
    for folder in folders:
        for column in folder.metric_columns:
            by_name.setdefault(column.name, column)
    gated = []
    for name, column in by_name.items():
        tolerance = thresholds.tolerances.get(name, column.tolerance)
        if tolerance is not None and column.better is not None:
            gated.append(dataclasses.replace(column, tolerance=tolerance))
    return gated


def summarize(results: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """Per method: each column's mean over pairs, median seconds per pair, speed ratio
    (the median of per-pair ratios: robust to the odd pair slowed by something else on
    the machine), the share of the CPU other processes used meanwhile, failed pairs."""
    rows = {}
    for method, group in results.groupby("method", sort=False):
        ok = group[group["status"] == schema.OK]
        seconds = ok["seconds"].median() if len(ok) else np.nan
        row = {column.name: ok[column.result_column].mean() if len(ok) and column.result_column in ok else np.nan
               for column in columns}
        row["seconds"] = seconds
        row["speed_ratio"] = (ok["seconds"] / ok["reference_seconds"]).median() if len(ok) else np.nan
        row["others_cpu"] = schema.contention(ok)
        row["failed"] = int((group["status"] != schema.OK).sum())
        rows[method] = row
    return pd.DataFrame(rows).T


def _worse(column: Column, before: float, after: float) -> str | None:
    """Why ``after`` is a regression of ``column`` from ``before``, or None."""
    assert column.tolerance is not None
    if np.isnan(after) and not np.isnan(before):
        return f"{column.heading} is missing (baseline {before:{column.format}})"
    change = column.worse_by(before, after)
    if change > column.tolerance:
        moved = "dropped" if column.better == "higher" else "rose"
        return f"{column.heading} {moved} by {change:.4f} (tolerance {column.tolerance:g})"
    return None


def compare(current: ResultsFolder, baseline: ResultsFolder, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """A table of what moved, one row per method, with a ``verdict`` column."""
    columns = gated_columns([baseline, current], thresholds)
    now, before = summarize(current.results, columns), summarize(baseline.results, columns)
    rows = []
    for method in list(dict.fromkeys([*before.index, *now.index])):
        if method not in now.index:
            rows.append({"method": method, "verdict": "REGRESSION: missing from the current run"})
            continue
        if method not in before.index:
            rows.append({"method": method, **{c.name: now.at[method, c.name] for c in columns},
                         "verdict": "new (not in the baseline)"})
            continue
        a, b = before.loc[method], now.loc[method]
        row: dict[str, object] = {"method": method}
        problems = []
        for column in columns:
            row |= {f"{column.name} baseline": a[column.name], column.name: b[column.name],
                    f"Δ {column.name}": b[column.name] - a[column.name]}
            problem = _worse(column, a[column.name], b[column.name])
            problems += [problem] if problem else []
        speed_change = b["speed_ratio"] / a["speed_ratio"] if a["speed_ratio"] > 0 else np.nan
        busy = max(a["others_cpu"], b["others_cpu"])
        unjudged = a["seconds"] >= MIN_TIMED_SECONDS and busy > schema.CONTENTION_LIMIT
        if a["seconds"] >= MIN_TIMED_SECONDS and not unjudged and speed_change > thresholds.speed_factor:
            problems.append(f"{speed_change:.2f}x slower (allowed {thresholds.speed_factor}x)")
        if b["failed"] > a["failed"]:
            problems.append(f"{int(b['failed'])} failed pairs (baseline {int(a['failed'])})")
        if problems:
            verdict = "REGRESSION: " + "; ".join(problems)
        elif unjudged:
            verdict = (f"speed not judged: other processes used {busy:.0%} of the CPU while "
                       f"{'the baseline' if a['others_cpu'] >= b['others_cpu'] else 'this run'} measured it")
        else:
            verdict = "ok"
        row |= {"speed ratio baseline": a["speed_ratio"], "speed ratio": b["speed_ratio"], "× slower": speed_change,
                "verdict": verdict}
        rows.append(row)
    table = pd.DataFrame(rows).set_index("method")
    return table[[column for column in table if column != "verdict"] + ["verdict"]]


def exit_status(table: pd.DataFrame) -> int:
    """0, :data:`REGRESSION` or :data:`SPEED_NOT_JUDGED` (a regression outranks it)."""
    if table["verdict"].str.startswith("REGRESSION").any():
        return REGRESSION
    if table["verdict"].str.startswith("speed not judged").any():
        return SPEED_NOT_JUDGED
    return 0
