"""Runs methods over a dataset's test pairs, keeping every result as it comes.

For each method the runner computes a result key (a hash of everything that decides
its numbers), reads back the results already stored under that key, and cuts the
pairs still missing, or failed before, into tasks (:mod:`regbench.tasks`): first one
task per learning method that trains it, then each method's pairs in as many chunks
as the executor has workers (:mod:`regbench.executors`: a local pool of worker
processes by default, or a Dask cluster). Each task drives a worker in a child
process with hard timeouts, so a method that fails to start, or that fails, crashes
or hangs on a pair, gets ``failed`` rows with the reason while every other method
and pair still runs. Every record is stored as soon as it arrives, so the same
command run again after an interruption (Ctrl-C, ``kill -9``, a reboot) only
computes what is missing. The tables are assembled from the store in the order of
an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from regbench import options
from regbench.dataset import Dataset, Pair
from regbench.executors import Executor, LocalPool
from regbench.fingerprint import code_version, digest
from regbench.method import Method
from regbench.metric import Metric
from regbench.outputs import NiftiWriter
from regbench.profiles import PROFILES, Profile
from regbench.registry import Entry
from regbench.store import PairRecord, ResultStore
from regbench.tasks import Task, TaskOutcome, Timeouts
from regbench.worker import MethodJob

# The code that turns a field into numbers, shared by every method.
MEASURING_MODULES = ("regbench.warp", "regbench.metric", "regbench.metrics")


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


@dataclass
class _Plan:
    """One method's share of a run: its job, its result key and the pairs still to compute."""

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


def _chunks(pairs: Sequence[Pair], count: int) -> list[tuple[Pair, ...]]:
    """``pairs`` cut into at most ``count`` consecutive chunks of near-equal size."""
    if not pairs:
        return []
    size = -(-len(pairs) // max(count, 1))
    return [tuple(pairs[start : start + size]) for start in range(0, len(pairs), size)]


def _tasks(plans: Sequence[_Plan], workers: int, timeouts: Timeouts, isolate: bool) -> tuple[list[Task], list[Task]]:
    """Training tasks (with several workers, each learning method trains once before its
    pairs are spread over them) and evaluation tasks (each method's pairs in chunks)."""
    training = [Task(plan.job, plan.key, (), timeouts, isolate)
                for plan in plans if plan.pending and plan.job.method.learns and workers > 1]
    evaluation = [Task(plan.job, plan.key, chunk, timeouts, isolate)
                  for plan in plans for chunk in _chunks(plan.pending, workers)]
    return training, evaluation


def _assemble(plans: Sequence[_Plan], pairs: Sequence[Pair], store: ResultStore) -> RunOutput:
    """The run's tables from the store, pair by pair then method by method, with the
    figure pair's arrays of each method."""
    results, labels, curves, snapshots = [], [], [], {}
    stored = [store.records(plan.job.name, plan.key) for plan in plans]
    infos = {plan.job.name: store.info(plan.job.name, plan.key) for plan in plans}
    columns = {name: info.columns if info is not None else {} for name, info in infos.items()}
    for pair in pairs:
        for plan, records in zip(plans, stored, strict=True):
            record = records.get(pair.id)
            if record is None:
                continue
            results.append({**record.row, **columns[plan.job.name]})
            labels.extend(record.labels)
            if record.ok and record.arrays:
                snapshots[plan.job.name] = record.arrays
    for name, info in infos.items():
        if info is not None:
            curves.extend({"method": name, "step": step, "loss": loss} for step, loss in enumerate(info.losses, start=1))
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
    executor: Executor | None = None,
    threads: int | None = None,
) -> RunOutput:
    """Evaluate every method in ``entries`` on ``dataset``'s test pairs, reusing what
    ``store`` holds (learning methods train first, or load their cached weights).

    ``figure_pair`` (default: the first test pair) is kept as arrays for the report's
    figure. ``warped_out``: write warped images and fields as NIfTI under
    ``warped_out/warped/<method>/``. ``isolate=False`` runs methods in this process
    (for debuggers): no timeouts, no protection from crashes. ``executor``: where tasks
    run (default: a local pool of one worker). ``threads``: torch CPU threads of every
    worker (default: this process's count), the same wherever a worker runs.
    """
    pairs = dataset.test_pairs()[:max_pairs]
    figure_pair = figure_pair or (pairs[0].id if pairs else None)
    plans = []
    for entry in entries:
        job = MethodJob(method=entry.cls, params=dict((params or {}).get(entry.name, {})), dataset=dataset,
                        seed=seed, profile=profile, metrics=tuple(metrics), cache_dir=cache_dir,
                        progress=progress, figure_pair=figure_pair, requires=entry.requires,
                        threads=threads or torch.get_num_threads())
        key = result_key(job)
        if warped_out is not None:
            job = dataclasses.replace(job, warped_dir=NiftiWriter.folder_for(warped_out, entry.name, key))
        plans.append(_Plan(job, key, _pending(job, key, pairs, store)))
    total = len(pairs) * len(plans)
    reused = total - sum(len(plan.pending) for plan in plans)
    executor = executor or LocalPool()

    def on_outcome(outcome: TaskOutcome) -> None:
        info, job, key = outcome.info, outcome.task.job, outcome.task.key
        if info is not None and (info.trained or store.info(job.name, key) is None):  # keep how it was trained
            store.save_info(job.name, key, info)

    with tqdm(total=total, initial=reused, desc=dataset.name, unit="reg", disable=not progress) as bar:
        def on_record(task: Task, record: PairRecord) -> None:
            store.save(task.job.name, task.key, record)
            bar.update()

        training, evaluation = _tasks(plans, executor.workers, timeouts, isolate)
        executor.run(training, on_record, on_outcome)
        executor.run(evaluation, on_record, on_outcome)
    output = _assemble(plans, pairs, store)
    output.figure_pair, output.reused = figure_pair, reused
    return output
