"""The unit of work of a run: prepare one method, then evaluate some pairs with it.

A :class:`Task` is small and picklable, so it runs the same way in a thread of this
process (the local pool) or on a Dask worker of another machine
(:mod:`regbench.executors`). Wherever it runs, :func:`run_task` drives a worker (a
child process with hard timeouts, :mod:`regbench.isolation`) and turns every fault
into ``failed`` records with the reason: a task never raises for a method's sake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from regbench.dataset import Pair
from regbench.isolation import InProcessWorker, IsolatedWorker, Worker, WorkerFailure
from regbench.store import MethodInfo, PairRecord
from regbench.worker import MethodJob, environment_columns, pair_row

DEFAULT_PAIR_TIMEOUT = 3600.0  # seconds; ANTs SyN on a 3D OASIS pair takes minutes


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


@dataclass(frozen=True)
class Task:
    """Prepare ``job``'s method, then evaluate ``pairs`` with it (none: prepare only,
    which trains a learning method once before its pairs are spread over workers)."""

    job: MethodJob
    key: str  # the result key the records are stored under (regbench.runner.result_key)
    pairs: tuple[Pair, ...] = ()
    timeouts: Timeouts = Timeouts()
    isolate: bool = True  # False: in the calling process, for debuggers


@dataclass
class TaskOutcome:
    """What a task produced: the method's info, or why it could not be prepared; and
    one record per pair, in the task's order."""

    task: Task
    info: MethodInfo | None = None
    error: str | None = None
    records: list[PairRecord] = field(default_factory=list)


def failed_record(job: MethodJob, pair: Pair, reason: str) -> PairRecord:
    """The row of a pair whose worker could not answer."""
    return PairRecord(row={**pair_row(job, pair), "error": reason, **environment_columns(job)})


def run_task(task: Task, on_record: Callable[[PairRecord], object] | None = None) -> TaskOutcome:
    """Run ``task``, calling ``on_record`` with each record as soon as it exists. A
    worker that dies or times out is replaced by a fresh one for the next pair."""
    start_worker: Callable[[MethodJob], Worker] = IsolatedWorker if task.isolate else InProcessWorker
    outcome = TaskOutcome(task)

    def keep(record: PairRecord) -> None:
        outcome.records.append(record)
        if on_record is not None:
            on_record(record)

    def prepared(remaining: tuple[Pair, ...]) -> Worker | None:
        """A prepared worker, or None once ``remaining`` pairs are recorded as failed."""
        worker = None
        try:
            worker = start_worker(task.job)
            outcome.info = worker.prepare(task.timeouts.prepare)
            return worker
        except WorkerFailure as failure:
            if worker is not None:
                worker.kill()
            outcome.error = str(failure)
            for pair in remaining:
                keep(failed_record(task.job, pair, str(failure)))
            return None
        except BaseException:
            if worker is not None:
                worker.kill()
            raise

    worker = prepared(task.pairs)
    if worker is None:
        return outcome
    try:
        for index, pair in enumerate(task.pairs):
            if worker is None:  # the last pair crashed or timed out its worker
                worker = prepared(task.pairs[index:])
                if worker is None:
                    return outcome
            try:
                keep(worker.evaluate(pair, task.timeouts.for_pair(task.job.name)))
            except WorkerFailure as failure:
                keep(failed_record(task.job, pair, str(failure)))
                worker.close()
                worker = None
    except BaseException:  # Ctrl-C: do not wait for the pair in progress
        if worker is not None:
            worker.kill()
        raise
    if worker is not None:
        worker.close()
    return outcome
