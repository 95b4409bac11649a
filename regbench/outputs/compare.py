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
here. A method regresses when a gated metric gets worse by more than its tolerance
and by more than seeds alone move it (when either run has several seeds,
:func:`seed_allowance`), when its speed ratio grows by more than ``speed_factor``, when
it fails pairs the baseline did not, or when it is missing although the run asked for
it. Runs of different configurations (dataset, its options, test pairs, training
settings) are not judged at all: the gate says what differs and exits with
:data:`NOT_COMPARABLE`. A method's parameters are the method's, under test like its
code: a changed default that costs accuracy is a regression. A baseline method this run did not ask for, or
could not run because its extra is not installed, is skipped with that reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from regbench.common.defaults import SPEED_FACTOR
from regbench.outputs import schema, seeds
from regbench.outputs.files import RESULTS_FILE, ResultsFolder
from regbench.plugin.metric import Column
from regbench.plugin.variants import method_name, split_specs

# Below this many seconds per pair, timing noise dominates: the speed check is skipped.
MIN_TIMED_SECONDS = 1e-3
REGRESSION = 1  # exit status: a method regressed
SPEED_NOT_JUDGED = 3  # exit status: no regression found, but some speed was measured under contention
NOT_COMPARABLE = 4  # exit status: the runs' configurations differ
NOT_COMPARABLE_VERDICT = "not comparable"
# Method parameters a machine may resolve for itself (precision=auto: bf16 on a CPU with
# AMX tiles, fp32 elsewhere): the same command on two machines, two computations.
MACHINE_CHOSEN = ("precision",)
SKIPPED = "skipped"  # a baseline method this run did not ask for, or could not run (not installed)
# A metric change within this many standard errors of the seed-to-seed spread is not a regression.
SEED_Z = 2.0


@dataclass(frozen=True)
class Thresholds:
    speed_factor: float = SPEED_FACTOR  # allowed growth of the speed ratio
    tolerances: Mapping[str, float] = field(default_factory=dict)  # metric name -> tolerance, over the declared


def read_results(folder: Path) -> ResultsFolder:
    """The folder's tables (no arrays), checked whole: a damaged one is a
    :class:`~regbench.outputs.integrity.DamagedResults`, one too old to compare a
    ValueError, so that bad input never reads as a verdict."""
    results = ResultsFolder.read(folder, arrays=False)
    if results.run_info.evaluated:
        raise ValueError(f"{folder} was written by `regbench evaluate`: fields scored without timing them, which the "
                         f"gate judges too; compare folders written by `regbench run`")
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
    """Per method: each column's mean over pairs (with several seeds, the mean over seeds
    of the per-seed means, and ``<column> seed std``, their sample std), the number of
    seeds, median seconds per pair, speed ratio (the median of per-pair ratios: robust to
    the odd pair slowed by something else on the machine), the share of the CPU other
    processes used meanwhile, failed pairs."""
    spreads = {column.name: seeds.spread(results, column.result_column) for column in columns}
    rows = {}
    for method, group in results.groupby("method", sort=False):
        ok = group[group["status"] == schema.OK]
        row: dict[str, float] = {}
        for column in columns:
            spread = spreads[column.name]
            found = method in spread.index and column.result_column in ok and len(ok)
            row[column.name] = spread.at[method, "mean"] if found else np.nan
            row[f"{column.name} seed std"] = spread.at[method, "std"] if found else np.nan
        row["seeds"] = max(1, group["seed"].nunique()) if "seed" in group else 1
        row["seconds"] = ok["seconds"].median() if len(ok) else np.nan
        row["speed_ratio"] = (ok["seconds"] / ok["reference_seconds"]).median() if len(ok) else np.nan
        row["others_cpu"] = schema.contention(ok)
        row["failed"] = int((group["status"] != schema.OK).sum())
        rows[method] = row
    return pd.DataFrame(rows).T


def seed_allowance(before_std: float, before_seeds: float, after_std: float, after_seeds: float) -> float:
    """How far two runs' means may differ from seed to seed alone: :data:`SEED_Z` standard
    errors of the difference of two means over seeds, the std across seeds pooled from
    the runs that have several; 0 when neither has."""
    runs = [(std, n) for std, n in ((before_std, before_seeds), (after_std, after_seeds)) if n > 1 and not np.isnan(std)]
    if not runs:
        return 0.0
    pooled = np.sqrt(sum((n - 1) * std**2 for std, n in runs) / sum(n - 1 for _, n in runs))
    return float(SEED_Z * pooled * np.sqrt(1 / before_seeds + 1 / after_seeds))


def _worse(column: Column, before: float, after: float, allowance: float = 0.0) -> str | None:
    """Why ``after`` is a regression of ``column`` from ``before`` (beyond its tolerance
    and beyond the seeds' ``allowance``), or None."""
    assert column.tolerance is not None
    if np.isnan(after) and not np.isnan(before):
        return f"{column.heading} is missing (baseline {before:{column.format}})"
    change = column.worse_by(before, after)
    if change > max(column.tolerance, allowance):
        moved = "dropped" if column.better == "higher" else "rose"
        spread = f", seed spread allows {allowance:.4f}" if allowance else ""
        return f"{column.heading} {moved} by {change:.4f} (tolerance {column.tolerance:g}{spread})"
    return None


def configuration_differences(current: ResultsFolder, baseline: ResultsFolder) -> list[str]:
    """What differs between the two runs' configurations besides the code under test
    (dataset, its options, the test pairs, the training settings of learning methods, the
    parameters a machine chose for a method, :data:`MACHINE_CHOSEN`):
    numbers from different configurations are not a regression, nor a pass."""
    differences = []
    now, before = current.run_info, baseline.run_info
    learned = all("train_steps" in folder.results and folder.results["train_steps"].notna().any()
                  for folder in (current, baseline))
    settings = [("dataset", now.dataset, before.dataset),
                ("dataset options", now.dataset_options, before.dataset_options),
                *([("training settings", now.training, before.training)] if learned else [])]
    for what, here, there in settings:  # None: not recorded, by an older version
        if here is not None and there is not None and _differ(here, there):
            differences.append(_difference(what, here, there))
    trained = now.train_datasets, before.train_datasets  # {}: trained where evaluated; None: not recorded
    if learned and None not in trained and trained[0] != trained[1]:
        differences.append(f"training datasets (--train-dataset): {_trained_text(trained[0])} here, "
                           f"{_trained_text(trained[1])} in the baseline")
    differences += _machine_chosen_differences(now.params, before.params)
    pairs_now, pairs_before = set(current.results["pair"]), set(baseline.results["pair"])
    if pairs_now != pairs_before:
        differences.append(f"test pairs: {len(pairs_now)} here, {len(pairs_before)} in the baseline "
                           f"({len(pairs_now & pairs_before)} in both)")
    return differences


def _machine_chosen_differences(now: Mapping[str, Mapping[str, Any]],
                                before: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The parameters each machine chose for itself (``precision=auto``: bf16 on one CPU,
    fp32 on another) that differ between the runs for a method both ran: the same
    command, not the same computation."""
    return [f"method parameters: {method} {key} {now[method][key]} here, {before[method][key]} in the baseline"
            for method in sorted(now.keys() & before.keys()) for key in MACHINE_CHOSEN
            if key in now[method] and key in before[method] and now[method][key] != before[method][key]]


def _absent(method: str, current: ResultsFolder) -> str:
    """The verdict of a baseline method absent from the current run."""
    info = current.run_info
    base = method_name(method)  # a variant's method
    if base in info.not_installed:
        return f"{SKIPPED}: {info.not_installed[base]} here"
    requested = info.requested_methods
    asked = {method_name(spec) for spec in split_specs(requested)} if requested is not None else {"all"}
    if not asked & {"all", base}:
        return f"{SKIPPED}: not asked for in this run (--methods {requested})"
    return "REGRESSION: missing from the current run"


def _difference(what: str, now: object, before: object) -> str:
    """``what`` differs, e.g. "dataset options: n_subjects 300 here, 40 in the baseline"."""
    if isinstance(now, dict) and isinstance(before, dict):
        keys = sorted(key for key in now.keys() & before.keys() if now[key] != before[key])
        return f"{what}: " + "; ".join(f"{key} {now[key]} here, {before[key]} in the baseline" for key in keys)
    return f"{what}: {now} here, {before} in the baseline"


def _trained_text(datasets: Mapping[str, Mapping[str, Any]] | None) -> str:
    """Datasets trained on with their options, or 'none' (trained where evaluated)."""
    return "; ".join(f"{name} {dict(options)}" for name, options in (datasets or {}).items()) or "none"


def _differ(now: object, before: object) -> bool:
    """Whether two recorded settings differ; of two tables, only in the keys both record
    (a setting a newer version added, at its default, is not a difference)."""
    if isinstance(now, dict) and isinstance(before, dict):
        return any(now[key] != before[key] for key in now.keys() & before.keys())
    return now != before


def compare(current: ResultsFolder, baseline: ResultsFolder, thresholds: Thresholds = Thresholds()) -> pd.DataFrame:
    """A table of what moved, one row per method, with a ``verdict`` column. When the
    runs' configurations differ (:func:`configuration_differences`) nothing is judged:
    every verdict says the runs are not comparable."""
    columns = gated_columns([baseline, current], thresholds)
    now, before = summarize(current.results, columns), summarize(baseline.results, columns)
    differ = bool(configuration_differences(current, baseline))
    rows = []
    for method in list(dict.fromkeys([*before.index, *now.index])):
        if method not in now.index:
            verdict = _absent(method, current)
            if differ and verdict.startswith("REGRESSION"):
                verdict = f"{NOT_COMPARABLE_VERDICT}: the runs' configurations differ (and this run lacks it)"
            rows.append({"method": method, "verdict": verdict})
            continue
        if method not in before.index:
            rows.append({"method": method, "seeds": now.at[method, "seeds"],
                         **{c.name: now.at[method, c.name] for c in columns}, "verdict": "new (not in the baseline)"})
            continue
        a, b = before.loc[method], now.loc[method]
        row: dict[str, object] = {"method": method, "seeds baseline": a["seeds"], "seeds": b["seeds"]}
        problems = []
        for column in columns:
            allowance = seed_allowance(a[f"{column.name} seed std"], a["seeds"],
                                       b[f"{column.name} seed std"], b["seeds"])
            row |= {f"{column.name} baseline": a[column.name], column.name: b[column.name],
                    f"Δ {column.name}": b[column.name] - a[column.name]}
            problem = _worse(column, a[column.name], b[column.name], allowance)
            problems += [problem] if problem else []
        speed_change = b["speed_ratio"] / a["speed_ratio"] if a["speed_ratio"] > 0 else np.nan
        busy = max(a["others_cpu"], b["others_cpu"])
        unjudged = a["seconds"] >= MIN_TIMED_SECONDS and busy > schema.CONTENTION_LIMIT
        if a["seconds"] >= MIN_TIMED_SECONDS and not unjudged and speed_change > thresholds.speed_factor:
            problems.append(f"{speed_change:.2f}x slower (allowed {thresholds.speed_factor}x)")
        if b["failed"] > a["failed"]:
            problems.append(f"{int(b['failed'])} failed pairs (baseline {int(a['failed'])})")
        if differ:
            verdict = f"{NOT_COMPARABLE_VERDICT}: the runs' configurations differ"
        elif problems:
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


def _decimals(values: pd.Series) -> int:
    """Decimals that show the largest of ``values`` to 4 significant digits (0 for whole numbers)."""
    finite = pd.to_numeric(values, errors="coerce").dropna()
    finite = finite[np.isfinite(finite)]
    if finite.empty or (finite == finite.round()).all():
        return 0
    largest = float(finite.abs().max())
    return int(min(6, max(0, 3 - np.floor(np.log10(largest))))) if largest > 0 else 0


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`compare`'s table as text: one number format per measure (a metric's
    decimals from the largest of its values in either run, shared by its baseline and
    ``Δ`` columns, the ``Δ`` signed; counts whole), and ``-`` where a method has no value
    (a method only one run has: skipped, missing or new)."""
    text = pd.DataFrame(index=table.index)
    for column in table.columns:
        values = table[column]
        if column == "verdict" or not pd.api.types.is_numeric_dtype(values):
            text[column] = values.fillna("-").astype(str)
            continue
        measure = column.removeprefix("Δ ").removesuffix(" baseline")
        same = [name for name in (measure, f"{measure} baseline") if name in table] or [column]
        digits = _decimals(pd.concat([table[name] for name in same]))
        sign = "+" if column.startswith("Δ ") else ""
        text[column] = values.map(lambda value: f"{value:{sign}.{digits}f}" if pd.notna(value) else "-")
    return text


def exit_status(table: pd.DataFrame) -> int:
    """:data:`REGRESSION`, :data:`NOT_COMPARABLE`, :data:`SPEED_NOT_JUDGED` or 0, the
    first that applies in this order."""
    verdicts = table["verdict"]
    if verdicts.str.startswith("REGRESSION").any():
        return REGRESSION
    if verdicts.str.startswith(NOT_COMPARABLE_VERDICT).any():
        return NOT_COMPARABLE
    if verdicts.str.startswith("speed not judged").any():
        return SPEED_NOT_JUDGED
    return 0
