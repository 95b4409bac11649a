"""Runs methods over a dataset's test pairs and measures every pair the same way.

For each pair the method only produces a displacement field; the runner times that
(and its peak memory), checks the field and hands the outcome to every metric plugin;
the outcome warps the moving image and labels with :mod:`regbench.warp` when a metric
asks. A method that fails to start, or fails on one pair, gets ``failed`` rows with the
error; every other method and pair still runs.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from regbench import devices, environment
from regbench.dataset import Dataset, Pair, Subject
from regbench.method import Method, TrainingContext
from regbench.metric import Metric, PairOutcome
from regbench.metrics import mean_std
from regbench.profiling import PeakRSS
from regbench.reference import reference_seconds
from regbench.registry import Entry


@dataclass
class RunOutput:
    """Tidy results: ``results`` has one row per method × pair, ``label_metrics`` one row
    per method × pair × label (Dice, HD95...), ``training`` one row per method × training step."""

    results: pd.DataFrame
    label_metrics: pd.DataFrame
    training: pd.DataFrame  # loss curves: one row per method × training step


def check_displacement(method: str, displacement: Any, fixed: np.ndarray) -> np.ndarray:
    """The field a method returned, or a clear error saying what was expected."""
    expected = (fixed.ndim, *fixed.shape)
    if not isinstance(displacement, np.ndarray):
        raise TypeError(f"method {method!r} returned a displacement of type {type(displacement).__name__}; "
                        f"expected a numpy array of shape {expected}")
    if displacement.shape != expected:
        raise ValueError(f"method {method!r} returned a displacement of shape {displacement.shape}; "
                         f"expected {expected} (ndim, *spatial)")
    if not np.issubdtype(displacement.dtype, np.floating):
        raise TypeError(f"method {method!r} returned a displacement of dtype {displacement.dtype}; expected floats")
    if not np.isfinite(displacement).all():
        raise ValueError(f"method {method!r} returned a displacement with NaN or infinite values")
    return displacement


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class _PairLoader:
    """Loads pairs one at a time, keeping only the last fixed image (the atlas)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._fixed: Subject | None = None

    def __call__(self, pair: Pair) -> tuple[Subject, Subject]:
        if self._fixed is None or self._fixed.id != pair.fixed_id:
            self._fixed = self.dataset.load(pair.fixed_id)
        return self._fixed, self.dataset.load(pair.moving_id)


def prepare_methods(
    entries: Sequence[Entry[Method]],
    context: TrainingContext,
    params: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Method], dict[str, str]]:
    """Instantiate and prepare (train) each method: the ready ones, and the errors of the others."""
    methods: dict[str, Method] = {}
    errors: dict[str, str] = {}
    for entry in entries:
        try:
            method = entry.cls(seed=context.seed, **params.get(entry.name, {}))
            method.prepare(context)
            methods[entry.name] = method
        except Exception as error:  # one method failing to start never stops the others
            errors[entry.name] = _error_text(error)
    return methods, errors


def _training_columns(method: Method | None) -> dict[str, Any]:
    report = method.training if method is not None else None
    return {
        "parameters": method.parameter_count if method is not None else None,
        "train_seconds": report.seconds if report else np.nan,
        "train_steps": report.steps if report else np.nan,
        "train_cached": report.cached if report else np.nan,
        "train_peak_rss_mb": report.peak_rss_mb if report else np.nan,
        "train_peak_cuda_mb": report.peak_cuda_mb if report else np.nan,
    }


def training_curves(methods: Mapping[str, Method]) -> pd.DataFrame:
    """The loss of every training step, one row per method × step."""
    rows = [
        {"method": name, "step": step, "loss": loss}
        for name, method in methods.items() if method.training is not None
        for step, loss in enumerate(method.training.losses, start=1)
    ]
    return pd.DataFrame(rows, columns=["method", "step", "loss"])


Observer = Callable[[str, Pair, PairOutcome], None]
"""Called with (method name, pair, outcome) after each successful registration."""


def _score(metrics: Sequence[Metric], outcome: PairOutcome, row: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run every metric on one outcome: scalars into ``row``, per-label arrays returned
    (and summarised into ``row`` as NAME_mean / NAME_std). A failing metric is noted in
    ``metric_errors``; the others still count."""
    per_label: dict[str, np.ndarray] = {}
    errors = []
    has_labels = outcome.fixed.seg is not None and outcome.moving.seg is not None
    for metric in metrics:
        if metric.needs_labels and not has_labels:
            continue
        try:
            values = metric.compute(outcome)
            for key, value in values.items():
                if np.ndim(value) == 0:
                    row[key] = float(value)
                    continue
                array = np.asarray(value, dtype=float)
                if array.shape != (len(outcome.labels),):
                    raise ValueError(f"{key!r} has shape {array.shape}; expected one value per label ({len(outcome.labels)})")
                per_label[key] = array
                row[f"{key}_mean"], row[f"{key}_std"] = mean_std(array)
        except Exception as error:  # one metric failing never loses the others
            errors.append(f"{metric.name}: {_error_text(error)}")
    if errors:
        row["metric_errors"] = "; ".join(errors)
    return per_label


def _evaluate(
    method: Method,
    metrics: Sequence[Metric],
    pair: Pair,
    fixed: Subject,
    moving: Subject,
    dataset: Dataset,
    row: dict[str, Any],
    observers: Sequence[Observer],
) -> list[dict[str, Any]]:
    """Register one pair with one method, filling ``row``; returns the per-label rows.

    Only ``register`` is timed (synchronised on a GPU) and profiled; warping and scoring
    are the harness's job, the same for every method.
    """
    try:
        devices.reset_peak_memory(method.device_type)
        with PeakRSS() as rss:
            started = time.perf_counter()
            result = method.register(fixed.image, moving.image)
            devices.synchronize(method.device_type)
            row["seconds"] = time.perf_counter() - started
        row["peak_rss_mb"] = rss.mb
        row["rss_increase_mb"] = rss.increase_mb
        row["peak_cuda_mb"] = devices.peak_memory_mb(method.device_type)
        displacement = check_displacement(method.name, result.displacement, fixed.image)
        outcome = PairOutcome(fixed=fixed, moving=moving, displacement=displacement,
                              labels=dataset.labels, spacing=dataset.spacing)
        per_label = _score(metrics, outcome, row)
        for observe in observers:
            observe(method.name, pair, outcome)
        row["status"], row["error"] = "ok", ""
    except Exception as error:  # one pair failing never loses the others
        row["error"] = _error_text(error)
        row["traceback"] = traceback.format_exc(limit=5)
        return []
    return [
        {"method": method.name, "pair": pair.id, "label_id": label, "label": name,
         **{key: values[index] for key, values in per_label.items()}}
        for index, (label, name) in enumerate(dataset.labels.items())
    ] if per_label else []


def run_benchmark(
    entries: Sequence[Entry[Method]],
    dataset: Dataset,
    *,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    metrics: Sequence[Metric] = (),
    observers: Sequence[Observer] = (),
    max_pairs: int | None = None,
    profile: str = "quick",
    cache_dir: Path | None = None,
    progress: bool = True,
) -> RunOutput:
    """Evaluate every method in ``entries`` on ``dataset``'s test pairs (learning
    methods train first, or load their cached weights)."""
    pairs = dataset.test_pairs()[:max_pairs]
    context = TrainingContext(dataset=dataset, train_ids=dataset.train_ids, seed=seed,
                              profile=profile, cache_dir=cache_dir, progress=progress)
    methods, start_errors = prepare_methods(entries, context, params or {})

    env = environment.describe()
    versions = {entry.name: environment.module_versions(entry.requires) for entry in entries}
    reference_before = reference_seconds()
    rows: list[dict[str, Any]] = []
    label_rows: list[dict[str, Any]] = []
    load = _PairLoader(dataset)
    bar = tqdm(total=len(pairs) * len(entries), desc=f"{dataset.name}", unit="reg", disable=not progress)
    for pair in pairs:
        fixed, moving = load(pair)
        for entry in entries:
            bar.set_postfix_str(entry.name)
            row: dict[str, Any] = {
                "method": entry.name,
                "dataset": dataset.name,
                "pair": pair.id,
                "fixed": pair.fixed_id,
                "moving": pair.moving_id,
                "seed": seed,
                "status": "failed",
                "error": start_errors.get(entry.name, ""),
                "seconds": np.nan,
            }
            method = methods.get(entry.name)
            if method is not None:
                label_rows.extend(_evaluate(method, metrics, pair, fixed, moving, dataset, row, observers))
                row["device"] = method.device
            row["method_versions"] = versions[entry.name]
            rows.append({**row, **_training_columns(method), **env})
            bar.update()
    bar.close()
    results = pd.DataFrame(rows)
    # The reference workload, timed before and after the pairs, makes speeds comparable
    # across runs and machines as ratios (regbench compare).
    results["reference_seconds"] = (reference_before + reference_seconds()) / 2
    return RunOutput(results=results, label_metrics=pd.DataFrame(label_rows),
                     training=training_curves(methods))
