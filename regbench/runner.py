"""Runs methods over a dataset's test pairs, keeping every result as it comes.

For each method the runner computes a result key (a hash of everything that decides
its numbers), reads back the results already stored under that key, and hands the
pairs still missing, or failed before, to a worker (:mod:`regbench.worker`): by
default in a child process with hard timeouts (:mod:`regbench.isolation`). A method
that fails to start, or that fails, crashes or hangs on a pair, gets ``failed`` rows
with the reason; every other method and pair still runs, and everything finished is
already on disk, so the same command run again after an interruption (Ctrl-C,
``kill -9``, a reboot) only computes what is missing. The tables are assembled from
the store in the order of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from regbench import options
from regbench.dataset import Dataset, Pair
from regbench.fingerprint import code_version, digest
from regbench.isolation import InProcessWorker, IsolatedWorker, Worker, WorkerFailure
from regbench.method import Method
from regbench.metric import Metric
from regbench.outputs import NiftiWriter
from regbench.profiles import PROFILES, Profile
from regbench.reference import reference_seconds
from regbench.registry import Entry
from regbench.store import MethodInfo, PairRecord, ResultStore
from regbench.worker import MethodJob, environment_columns, pair_row

# The code that turns a field into numbers, shared by every method.
MEASURING_MODULES = ("regbench.warp", "regbench.metric", "regbench.metrics")
DEFAULT_PAIR_TIMEOUT = 3600.0  # seconds; ANTs SyN on a 3D OASIS pair takes minutes


@dataclass
class RunOutput:
    """Tidy results: ``results`` has one row per method × pair, ``label_metrics`` one row
    per method × pair × label (Dice, HD95...), ``training`` one row per method × training step."""

    results: pd.DataFrame
    label_metrics: pd.DataFrame
    training: pd.DataFrame
    figure_pair: str | None = None
    snapshots: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # method -> figure arrays
    reused: int = 0  # results read back from an earlier, interrupted or identical run


@dataclass(frozen=True)
class Timeouts:
    """Hard limits in seconds (None: no limit). ``pair`` bounds one registration and
    its scoring, ``by_method`` overrides it for named methods; ``prepare`` bounds
    training (or loading) a method."""

    pair: float | None = DEFAULT_PAIR_TIMEOUT
    prepare: float | None = None
    by_method: Mapping[str, float | None] = field(default_factory=dict)

    def for_pair(self, method: str) -> float | None:
        return self.by_method.get(method, self.pair)


StartWorker = Callable[[MethodJob], Worker]


def result_key(job: MethodJob) -> str:
    """What decides a method's numbers: its name, parameters, code and seed; the
    dataset and its options; the metrics and the measuring code; and, for methods that
    learn, the training profile."""
    method = job.method
    material = {
        "method": method.name,
        "params": options.resolve(f"method {method.name!r}", method.default_params, job.params),
        "method_code": code_version(method.code_modules()),
        "seed": job.seed,
        "profile": dataclasses.asdict(job.profile) if method.learns else None,
        "dataset": job.dataset.name,
        "dataset_options": job.dataset.options,
        "metrics": sorted(metric.name for metric in job.metrics),
        "measuring_code": code_version([*MEASURING_MODULES, *(type(m).__module__ for m in job.metrics)]),
    }
    return digest(material)


def failed_record(job: MethodJob, pair: Pair, reason: str, info: MethodInfo | None) -> PairRecord:
    """The row of a pair whose worker could not answer."""
    row = {**pair_row(job, pair), "error": reason}
    row.update(info.columns if info is not None else environment_columns(job))
    return PairRecord(row=row)


def evaluate_pairs(job: MethodJob, key: str, pairs: Sequence[Pair], store: ResultStore, timeouts: Timeouts,
                   start_worker: StartWorker, advance: Callable[[int], object] = lambda n: None) -> None:
    """Evaluate ``pairs`` with one method, storing each record as soon as it exists.
    A worker that dies or times out is replaced by a fresh one for the next pair."""
    worker: Worker | None = None
    info: MethodInfo | None = None
    try:
        for index, pair in enumerate(pairs):
            if worker is None:
                try:
                    worker = start_worker(job)
                    info = worker.prepare(timeouts.prepare)
                    store.save_info(job.name, key, info)
                except WorkerFailure as failure:
                    if worker is not None:
                        worker.kill()
                        worker = None
                    for rest in pairs[index:]:
                        store.save(job.name, key, failed_record(job, rest, str(failure), info))
                    advance(len(pairs) - index)
                    return
            try:
                record = worker.evaluate(pair, timeouts.for_pair(job.name))
            except WorkerFailure as failure:
                record = failed_record(job, pair, str(failure), info)
                worker.close()
                worker = None
            store.save(job.name, key, record)
            advance(1)
    except BaseException:  # Ctrl-C: do not wait for the pair in progress
        if worker is not None:
            worker.kill()
        raise
    if worker is not None:
        worker.close()


@dataclass
class _Plan:
    job: MethodJob
    key: str
    pending: list[Pair]


def _pending(job: MethodJob, key: str, pairs: Sequence[Pair], store: ResultStore) -> list[Pair]:
    """Pairs without a stored success (or, for the figure pair, without its arrays;
    with --save-warped, without their NIfTI files)."""
    stored = store.records(job.name, key)
    nifti = NiftiWriter(job.warped_dir) if job.warped_dir is not None else None
    pending = []
    for pair in pairs:
        record = stored.get(pair.id)
        done = (record is not None and record.ok
                and (pair.id != job.figure_pair or bool(record.arrays))
                and (nifti is None or nifti.has(pair)))
        if not done:
            pending.append(pair)
    return pending


def _assemble(plans: Sequence[_Plan], pairs: Sequence[Pair], store: ResultStore) -> RunOutput:
    """The run's tables from the store, pair by pair then method by method, with the
    figure pair's arrays of each method."""
    results, labels, curves, snapshots = [], [], [], {}
    stored = [store.records(plan.job.name, plan.key) for plan in plans]
    for pair in pairs:
        for plan, records in zip(plans, stored, strict=True):
            record = records.get(pair.id)
            if record is None:
                continue
            results.append(record.row)
            labels.extend(record.labels)
            if record.ok and record.arrays:
                snapshots[plan.job.name] = record.arrays
    for plan in plans:
        info = store.info(plan.job.name, plan.key)
        if info is not None:
            curves.extend({"method": plan.job.name, "step": step, "loss": loss}
                          for step, loss in enumerate(info.losses, start=1))
    return RunOutput(results=pd.DataFrame(results), label_metrics=pd.DataFrame(labels),
                     training=pd.DataFrame(curves, columns=["method", "step", "loss"]), snapshots=snapshots)


def run_benchmark(
    entries: Sequence[Entry[Method]],
    dataset: Dataset,
    store: ResultStore,
    *,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    metrics: Sequence[Metric] = (),
    max_pairs: int | None = None,
    profile: Profile = PROFILES["quick"],
    cache_dir: Path | None = None,
    progress: bool = True,
    figure_pair: str | None = None,
    warped_out: Path | None = None,
    timeouts: Timeouts = Timeouts(),
    isolate: bool = True,
) -> RunOutput:
    """Evaluate every method in ``entries`` on ``dataset``'s test pairs, reusing what
    ``store`` holds (learning methods train first, or load their cached weights).

    ``figure_pair`` (default: the first test pair) is kept as arrays for the report's
    figure. ``warped_out``: write warped images and
    fields as NIfTI under ``warped_out/warped/<method>/``. ``isolate=False`` runs
    methods in this process (for debuggers): no timeouts, no protection from crashes.
    """
    pairs = dataset.test_pairs()[:max_pairs]
    figure_pair = figure_pair or (pairs[0].id if pairs else None)
    reference_before = reference_seconds()
    plans = []
    for entry in entries:
        job = MethodJob(method=entry.cls, params=dict((params or {}).get(entry.name, {})), dataset=dataset,
                        seed=seed, profile=profile, metrics=tuple(metrics), cache_dir=cache_dir,
                        progress=progress, figure_pair=figure_pair, requires=entry.requires)
        key = result_key(job)
        if warped_out is not None:
            job = dataclasses.replace(job, warped_dir=NiftiWriter.folder_for(warped_out, entry.name, key))
        plans.append(_Plan(job, key, _pending(job, key, pairs, store)))
    total = len(pairs) * len(plans)
    reused = total - sum(len(plan.pending) for plan in plans)
    start_worker: StartWorker = IsolatedWorker if isolate else InProcessWorker
    with tqdm(total=total, initial=reused, desc=dataset.name, unit="reg", disable=not progress) as bar:
        for plan in plans:
            bar.set_postfix_str(plan.job.name)
            evaluate_pairs(plan.job, plan.key, plan.pending, store, timeouts, start_worker, bar.update)
    output = _assemble(plans, pairs, store)
    output.figure_pair, output.reused = figure_pair, reused
    # The reference workload, timed before and after the pairs, makes speeds comparable
    # across runs and machines as ratios (regbench compare).
    output.results["reference_seconds"] = (reference_before + reference_seconds()) / 2
    return output
