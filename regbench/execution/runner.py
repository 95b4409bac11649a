"""Runs planned jobs over a dataset's test pairs, keeping every result as it comes.

For each job the runner reads back the results already stored under its result key
(:mod:`regbench.execution.plan`), and cuts the pairs still missing, or failed before,
into tasks (:mod:`regbench.execution.tasks`): first one task per learning method that
trains it, then each method's pairs in as many chunks as the executor runs at once
(:mod:`regbench.execution.executors`: a local pool of worker processes by default, or
a Dask cluster). Each task drives an evaluator in a worker process with hard
timeouts, so a method that fails to start, or that fails, crashes or hangs on a pair,
gets ``failed`` rows with the reason while every other method and pair still runs.
Every record is stored as soon as it arrives, so the same command run again after an
interruption (Ctrl-C, ``kill -9``, a reboot) only computes what is missing. The
tables are assembled from the store in the order of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from regbench.common.defaults import LOG_EVERY
from regbench.common.throttle import Throttle, time_left
from regbench.execution.executors import Executor, LocalPool
from regbench.execution.plan import MethodJob, result_key
from regbench.execution.store import PairRecord, ResultStore
from regbench.execution.tasks import Task, TaskOutcome, Timeouts
from regbench.outputs import schema
from regbench.outputs.fields import ExportTarget
from regbench.outputs.files import TRAINING_COLUMNS, TRAINING_SCORES, RunOutput
from regbench.outputs.nifti import NiftiWriter, figure_arrays, preview_of
from regbench.plugin.dataset import Dataset, Pair


@dataclass
class _Plan:
    """One job with its result key and the pairs it still has to evaluate."""

    job: MethodJob
    key: str
    folder: str  # the name of its folder of files and of its log lines (:func:`_folder_name`)
    pending: list[Pair]
    has_info: bool  # how the method was prepared is stored (the columns of its rows): else it is prepared again


def _pending(job: MethodJob, key: str, pairs: Sequence[Pair], store: ResultStore) -> list[Pair]:
    """Pairs without a stored success of their current data files and its preview for the
    pair viewer (a record stored before previews were kept is computed again), or, for
    the figure pair, without its arrays; with --save-warped or --export, without their files."""
    stored = store.records(job.name, key)
    nifti = NiftiWriter(job.warped_dir) if job.warped_dir is not None else None
    pending = []
    for pair in pairs:
        record = stored.get(pair.id)
        done = (record is not None and record.ok and record.inputs == job.pair_inputs(pair)
                and preview_of(record.arrays) is not None
                and (pair.id != job.figure_pair or "warped" in figure_arrays(record.arrays))
                and (nifti is None or nifti.has(pair))
                and (job.export is None or job.export.has(pair)))
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
    """Training tasks (each learning method trains, or loads its weights, once, in a
    worker process of its own; a method with every pair stored but its info lost is
    prepared again, for the columns of its rows) and evaluation tasks (each method's pairs
    in chunks). So a
    method's pairs are always timed in a fresh worker process that loaded its weights,
    whether this run trained them or not, and spread over workers after training."""
    side_by_side = workers > 1
    training = [Task(plan.job, plan.key, (), timeouts, isolate, side_by_side)
                for plan in plans if (plan.pending and plan.job.method.learns) or not (plan.pending or plan.has_info)]
    evaluation = [Task(plan.job, plan.key, chunk, timeouts, isolate, side_by_side)
                  for plan in plans for chunk in _chunks(plan.pending, workers)]
    return training, evaluation


def _assemble(plans: Sequence[_Plan], pairs: Sequence[Pair], store: ResultStore) -> RunOutput:
    """The run's tables from the store, pair by pair then method by method (and seed by
    seed), with the figure pair's arrays of each method (of its first seed that succeeded
    there) and every pair's preview (of its first seed, the first of its plans, whose
    rows the pair viewer shows beside them)."""
    results, labels, curves, snapshots, previews = [], [], [], {}, {}
    stored = [store.records(plan.job.name, plan.key) for plan in plans]
    infos = [store.info(plan.job.name, plan.key) for plan in plans]
    first = {plan.job.name: plan.key for plan in reversed(plans)}
    for pair in pairs:
        for plan, records, info in zip(plans, stored, infos, strict=True):
            record = records.get(pair.id)
            if record is None:
                continue
            results.append({**record.row, **(info.columns if info is not None else {}), **plan.job.training_columns()})
            labels.extend(record.labels)
            if not record.ok:
                continue
            if pair.id == plan.job.figure_pair and (figure := figure_arrays(record.arrays)):
                snapshots.setdefault(plan.job.name, figure)  # its first seed's that succeeded on the figure pair
            if first[plan.job.name] == plan.key and (preview := preview_of(record.arrays)) is not None:
                previews.setdefault(plan.job.name, {})[pair.id] = preview  # the first seed's, as the viewer's rows
    for plan, info in zip(plans, infos, strict=True):
        if info is not None:
            scores = {int(row["step"]): row for row in info.validation}
            curves.extend({"method": plan.job.name, "seed": plan.job.seed, "step": step, "loss": loss,
                           **{key: scores.get(step, {}).get(key) for key in TRAINING_SCORES}}
                          for step, loss in enumerate(info.losses, start=1))
    return RunOutput(results=schema.ordered(pd.DataFrame(results)), label_metrics=pd.DataFrame(labels),
                     training=pd.DataFrame(curves, columns=TRAINING_COLUMNS), snapshots=snapshots,
                     previews=previews)


def _folder_name(job: MethodJob, jobs: Sequence[MethodJob]) -> str:
    """The name of ``job``'s folder of files (--save-warped, --export): the method's (its
    variant's, "/" made "_"), with the seed when the run has several."""
    several = sum(other.name == job.name for other in jobs) > 1
    name = job.name.replace("/", "_")  # a variant's values may hold a path: never a folder of it
    return f"{name}-seed{job.seed}" if several else name


def _plans(jobs: Sequence[MethodJob], pairs: Sequence[Pair], store: ResultStore, *, dataset: Dataset,
           warped_out: Path | None, export_to: ExportTarget | None) -> list[_Plan]:
    """Each job with its result key, the folders its files go to (``warped_out``,
    ``export_to``: see :func:`run_jobs`) and the pairs it still has to evaluate."""
    plans = []
    all_pairs = dataset.test_pairs() if export_to is not None else []  # export file names come from every pair
    for job in jobs:
        key = result_key(job)
        folder = _folder_name(job, jobs)
        if warped_out is not None:
            job = dataclasses.replace(job, warped_dir=NiftiWriter.folder_for(warped_out, folder, key, pairs))
        if export_to is not None:
            job = dataclasses.replace(job, export=export_to.for_method(folder, key, all_pairs, pairs))
        plans.append(_Plan(job, key, folder, _pending(job, key, pairs, store), store.info(job.name, key) is not None))
    return plans


def _prepared(outcome: TaskOutcome) -> str:
    """How a training task left its method, as the log says it."""
    info = outcome.info
    if info is None:
        return f"could not be prepared: {outcome.error}"
    if not info.trained:
        return "weights loaded"
    return f"trained, {info.columns['train_steps']} steps in {info.columns['train_seconds']:.0f} s"


class _Run:
    """The tasks of one run and what they report: every record is stored as it arrives,
    with the inputs it was computed from, and so is how each method was prepared; the
    progress bar moves and ``say`` gets a line per method prepared and per method whose
    pairs are all done."""

    def __init__(self, plans: Sequence[_Plan], store: ResultStore, bar: tqdm, say: Callable[[str], object],
                 every: float = LOG_EVERY) -> None:
        self.plans, self.store, self.bar, self.say = plans, store, bar, say
        self.lines = Throttle(every)  # a line on the pairs at most this often, between methods' last ones
        self.by_key = {plan.key: plan for plan in plans}
        self.inputs = {plan.key: {pair.id: plan.job.pair_inputs(pair) for pair in plan.pending} for plan in plans}
        self.left = {plan.key: len(plan.pending) for plan in plans}
        self.failed = dict.fromkeys(self.left, 0)
        self.started = time.perf_counter()

    def execute(self, executor: Executor, timeouts: Timeouts, isolate: bool) -> None:
        """Training tasks first, then evaluation tasks (:func:`_tasks`)."""
        training, evaluation = _tasks(self.plans, executor.workers, timeouts, isolate)
        executor.run(training, self.on_record, self.on_outcome)
        self.lines = Throttle(self.lines.every)  # the pace of registering, not of training before it
        executor.run(evaluation, self.on_record, self.on_outcome)

    def on_outcome(self, outcome: TaskOutcome) -> None:
        """Keep how the method was prepared (the newest training over loaded weights); log a training task."""
        info, job, key = outcome.info, outcome.task.job, outcome.task.key
        if info is not None and (info.trained or self.store.info(job.name, key) is None):  # keep how it was trained
            self.store.save_info(job.name, key, info)
        if not outcome.task.pairs:  # a training task
            self.say(f"{self.by_key[key].folder}: {_prepared(outcome)}")

    def on_record(self, task: Task, record: PairRecord) -> None:
        """Store one pair's record; log the method once its last pending pair is in."""
        record.inputs = self.inputs[task.key][str(record.row["pair"])]
        self.store.save(task.job.name, task.key, record)
        self.bar.update()
        self.left[task.key] -= 1
        self.failed[task.key] += not record.ok
        if not self.left[task.key]:
            plan = self.by_key[task.key]
            self.say(f"{plan.folder}: {len(plan.pending)} pair(s) registered and scored, {self.failed[task.key]} "
                     f"failed, {time.perf_counter() - self.started:.0f} s into the run")
        elif self.lines.due():
            total = sum(len(plan.pending) for plan in self.plans)
            done = total - sum(self.left.values())
            self.say(f"registering: {done} of {total} registrations done, {self.lines.elapsed:.0f} s, "
                     f"{time_left(self.lines.elapsed, done, total)}")


def run_jobs(
    jobs: Sequence[MethodJob],
    pairs: Sequence[Pair],
    store: ResultStore,
    *,
    dataset: Dataset,
    progress: bool = True,
    timeouts: Timeouts = Timeouts(),
    isolate: bool = True,
    executor: Executor | None = None,
    warped_out: Path | None = None,
    export_to: ExportTarget | None = None,
    log: Callable[[str], object] | None = None,
    log_every: float = LOG_EVERY,
) -> RunOutput:
    """Evaluate every job on ``pairs``, reusing what ``store`` holds (learning methods
    train first, or load their cached weights).

    ``isolate=False`` runs methods in this process (for debuggers): no timeouts, no
    protection from crashes. ``executor``: where tasks run (default: a local pool of
    one worker process). ``warped_out``: write warped images and fields as NIfTI under
    ``warped_out/warped/<method>/``. ``export_to``: write fields in its format (Learn2Reg's
    submission layout, ITK transforms) under its ``DIR/<method>/`` (:mod:`regbench.outputs.fields`).
    ``log``: called with one line per method trained and per method whose pairs are all
    done, and between them with the pairs done at most every ``log_every`` seconds (for
    logs written to a file, where progress bars would be noise).
    """
    plans = _plans(jobs, pairs, store, dataset=dataset, warped_out=warped_out, export_to=export_to)
    total = len(pairs) * len(plans)
    reused = total - sum(len(plan.pending) for plan in plans)
    with tqdm(total=total, initial=reused, desc=dataset.name, unit="reg", disable=not progress) as bar:
        _Run(plans, store, bar, log or (lambda line: None), log_every).execute(executor or LocalPool(), timeouts,
                                                                             isolate)
    output = _assemble(plans, pairs, store)
    output.reused = reused
    return output
