"""The one definition of a result row: its fixed columns, how a failed row looks, and
how every column is summarised.

A row of ``results.csv`` is one method × pair. Its fixed columns come in groups, in
this order: who (identity), how it went (status), how long (timing), how much memory,
how the method was trained, and where it was measured (environment). Between status
and timing stand the metrics' own columns, declared by each metric plugin
(:class:`regbench.Column`); a run writes those declarations into ``run.json`` so that
tables, the report and ``regbench compare`` read them without importing any plugin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from regbench.measuring.contention import CONTENTION_LIMIT
from regbench.plugin.metric import Column

IDENTITY = ("method", "dataset", "pair", "fixed", "moving", "seed")
STATUS = ("status", "error", "traceback", "metric_errors")
TIMING = ("seconds", "reference_seconds", "timing_repeats", "timing_batch", "pair_wall_seconds", "others_cpu_seconds")
MEMORY = ("peak_rss_mb", "rss_increase_mb", "peak_cuda_mb")
TRAINING = ("parameters", "method_params", "train_dataset", "train_dataset_options", "train_seconds", "train_steps",
            "train_batch_size", "train_stop", "train_best_step", "train_val_dice", "train_cached", "train_peak_rss_mb",
            "train_peak_cuda_mb", "train_preflight_cuda_mb", "train_wall_seconds", "train_others_cpu_seconds")
ENVIRONMENT = ("device", "method_versions", "regbench_version", "python_version", "platform", "cpu", "cpu_isa",
               "cpu_cores", "torch_threads", "torch_parallel", "omp_wait_policy", "blas", "numpy_version",
               "torch_version")
FIXED = (*IDENTITY, *STATUS, *TIMING, *MEMORY, *TRAINING, *ENVIRONMENT)
# Columns that differ between two runs of the same configuration on the same machine
# (measurements, whether weights came from the cache, and the OpenMP wait policy, chosen
# by how busy the machine was); all others are results.
MEASURED = (*TIMING, *MEMORY, "traceback", "train_seconds", "train_cached", "train_peak_rss_mb", "train_peak_cuda_mb",
            "train_preflight_cuda_mb", "train_wall_seconds", "train_others_cpu_seconds", "omp_wait_policy")

# Fixed columns that hold numbers (or nothing); a metric's columns hold numbers too.
# Reading a results folder back checks them (a row cut short turns a number into text).
NUMERIC = ("seed", *TIMING, *MEMORY, "parameters", "train_seconds", "train_steps", "train_batch_size",
           "train_best_step", "train_val_dice", "train_peak_rss_mb", "train_peak_cuda_mb", "train_preflight_cuda_mb",
           "train_wall_seconds", "train_others_cpu_seconds", "cpu_cores", "torch_threads")

# Of those, the ones that hold whole numbers (the seed and counts); the fixed column
# that holds yes/no; the others of FIXED hold text. results.parquet keeps these types
# (docs/results.md), which a CSV loses: one missing count turns a column into floats.
INTEGER = ("seed", "timing_repeats", "timing_batch", "parameters", "train_steps", "train_batch_size",
           "train_best_step", "cpu_cores", "torch_threads")
BOOLEAN = ("train_cached",)
# A row of label_metrics.csv is one method × seed × pair × label: the method, seed and
# pair of IDENTITY, these, then the per-label metric columns.
LABEL = ("label_id", "label")
LABEL_INTEGER = ("label_id",)

OK, FAILED = "ok", "failed"
STATUSES = (OK, FAILED)


@dataclass(frozen=True)
class Summarised(Column):
    """A fixed column in the report's summary: aggregated over a method's pairs by
    ``aggregate`` (``mean``, ``max``, or ``first`` for per-method values), shown under
    the heading ``group`` (time, memory, training)."""

    aggregate: str = "mean"
    group: str = "time"


# Fixed columns the report's summary shows after the metrics', in this order.
SUMMARISED = (
    Summarised("seconds", "s / pair", "wall seconds of register() per pair (GPU: synchronised; the fastest of "
               "--repeats)", better="lower", format=".4g"),
    Summarised("peak_rss_mb", "peak RSS (MiB)", "highest process RSS while registering", better="lower",
               format=".4g", aggregate="max", group="memory"),
    Summarised("rss_increase_mb", "RSS increase (MiB)", "peak RSS above the RSS before registering",
               better="lower", format=".4g", aggregate="max", group="memory"),
    Summarised("peak_cuda_mb", "peak CUDA (MiB)", "torch.cuda.max_memory_allocated while registering",
               better="lower", format=".4g", aggregate="max", group="memory"),
    Summarised("train_seconds", "train s", "seconds of training", format=".4g", aggregate="first", group="training"),
    Summarised("parameters", "parameters", "trainable parameters", format=",.0f", aggregate="first",
               group="training"),
)


def contention(rows: pd.DataFrame) -> float:
    """The share of the machine's usable cores that other processes used while ``rows``
    were evaluated (0: alone, 1: every core taken); NaN for rows from a run that did not
    measure it. Summed over the rows, so one pair's coarse clock ticks average out."""
    needed = ("others_cpu_seconds", "pair_wall_seconds", "cpu_cores")
    if rows.empty or any(column not in rows for column in needed):
        return float("nan")
    capacity = (rows["pair_wall_seconds"] * rows["cpu_cores"]).sum()
    return float(rows["others_cpu_seconds"].sum() / capacity) if capacity > 0 else float("nan")


def contended(rows: pd.DataFrame) -> bool:
    """Whether ``rows`` were timed under contention (see :data:`CONTENTION_LIMIT`)."""
    return contention(rows) > CONTENTION_LIMIT


def training_contention(rows: pd.DataFrame) -> float:
    """The largest share, over the seeds of ``rows`` (one method's rows as stored: each
    seed's rows carry its training's columns), of the machine's usable cores that other
    processes used while the method trained in this run; NaN when it did not train here
    (cached weights, a classical method) or an older run did not measure it."""
    needed = ("train_others_cpu_seconds", "train_wall_seconds", "cpu_cores")
    if rows.empty or any(column not in rows for column in needed):
        return float("nan")
    measured = rows.dropna(subset=list(needed))
    measured = measured[measured["train_wall_seconds"] * measured["cpu_cores"] > 0]
    if measured.empty:
        return float("nan")
    trainings = measured.groupby("seed").first() if "seed" in measured else measured.iloc[:1]
    return float((trainings["train_others_cpu_seconds"]
                  / (trainings["train_wall_seconds"] * trainings["cpu_cores"])).max())


def training_contended(rows: pd.DataFrame) -> bool:
    """Whether the training time of ``rows``' method was measured under contention."""
    return training_contention(rows) > CONTENTION_LIMIT


def pair_row(method: str, dataset: str, pair_id: str, fixed: str, moving: str, seed: int) -> dict[str, Any]:
    """The columns every row starts with; ``status`` stays ``failed`` until a pair succeeds."""
    return {"method": method, "dataset": dataset, "pair": pair_id, "fixed": fixed, "moving": moving, "seed": seed,
            "status": FAILED, "error": "", "seconds": np.nan}


def failed_row(start: Mapping[str, Any], error: str, **more: Any) -> dict[str, Any]:
    """A row that failed: its identity, the reason, and whatever else is known."""
    return {**start, "status": FAILED, "error": error, **more}


def environment_columns(requires: Iterable[str], threads: int | None) -> dict[str, Any]:
    """The :data:`ENVIRONMENT` columns: the versions of the modules a method ``requires``,
    where and with what it was measured, and its torch ``threads`` (None: torch's
    default), also for a row made outside a worker process (one that failed there)."""
    from regbench.measuring import environment  # noqa: PLC0415 - imports torch; readers of results never call this

    columns = {"method_versions": environment.module_versions(requires), **environment.describe()}
    if threads is not None:
        columns["torch_threads"] = threads
    return columns


def ordered(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with the fixed columns in schema order around the metrics' columns."""
    head = [c for c in (*IDENTITY, *STATUS) if c in results]
    tail = [c for c in (*TIMING, *MEMORY, *TRAINING, *ENVIRONMENT) if c in results]
    middle = [c for c in results if c not in head and c not in tail]
    return results[head + middle + tail]


def metric_names(declared: Sequence[Column], *, labels: bool) -> list[str]:
    """The columns the metrics ``declared`` fill: in results.csv, or with ``labels`` in
    label_metrics.csv (see :class:`Column`)."""
    if labels:
        return [column.name for column in declared if column.per_label]
    return [name for column in declared
            for name in (column.result_column, *([f"{column.name}_std"] if column.per_label else []))]


def column_type(name: str, declared: Sequence[Column]) -> str | None:
    """The type of the column ``name`` of results.csv or label_metrics.csv in a run whose
    metrics ``declared`` their columns: ``"int64"``, ``"bool"``, ``"double"`` or
    ``"string"`` (Arrow's names), from its group above or its declaration; None for a
    column neither knows, whose values decide."""
    if name in INTEGER or name in LABEL_INTEGER:
        return "int64"
    if name in BOOLEAN:
        return "bool"
    if name in NUMERIC or any(name in metric_names(declared, labels=labels) for labels in (False, True)):
        return "double"
    return "string" if name in FIXED or name in LABEL else None


def declarations_to_json(columns: Iterable[Column]) -> list[dict[str, Any]]:
    return [asdict(column) for column in columns]


def declarations_from_json(items: Sequence[Mapping[str, Any]]) -> list[Column]:
    return [Column(**item) for item in items]


def metric_columns(results: pd.DataFrame, declared: Sequence[Column] = ()) -> list[Column]:
    """The metric columns of ``results``: those declared (in their order), then any other
    numeric column outside the fixed schema (a folder from a run without declarations),
    under its own name."""
    columns = [column for column in declared if column.result_column in results]
    known = {column.result_column for column in columns} | {f"{c.name}_std" for c in columns if c.per_label}
    for name in results.columns:
        if name in FIXED or name in known or not pd.api.types.is_numeric_dtype(results[name]):
            continue
        if name.endswith("_std") and f"{name[:-4]}_mean" in results:
            continue
        columns.append(Column(name, name))
    return columns
