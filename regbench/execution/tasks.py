"""The unit of work of a run: prepare one method, then evaluate some pairs with it.

A :class:`Task` is small and picklable, so it runs the same way in a thread of this
process (the local pool) or on a Dask worker of another machine
(:mod:`regbench.execution.executors`). Wherever it runs, :func:`run_task` drives an
evaluator in a worker process with hard timeouts (:mod:`regbench.execution.process`)
and turns every fault into ``failed`` records with the reason: a task never raises for
a method's sake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from regbench.execution.plan import MethodJob, Timeouts
from regbench.execution.process import (
    EvaluationFailure,
    EvaluatorHandle,
    InProcess,
    WorkerProcess,
)
from regbench.execution.store import MethodInfo, PairRecord, failed_record
from regbench.plugin.dataset import Pair


@dataclass(frozen=True)
class Task:
    """Prepare ``job``'s method, then evaluate ``pairs`` with it (none: prepare only,
    which trains a learning method once before its pairs are spread over workers)."""

    job: MethodJob
    key: str  # the result key the records are stored under (regbench.execution.plan.result_key)
    pairs: tuple[Pair, ...] = ()
    timeouts: Timeouts = Timeouts()
    isolate: bool = True  # False: in the calling process, for debuggers
    side_by_side: bool = False  # other tasks run at the same time on this machine


@dataclass
class TaskOutcome:
    """What a task produced: the method's info, or why it could not be prepared; and
    one record per pair, in the task's order."""

    task: Task
    info: MethodInfo | None = None
    error: str | None = None
    records: list[PairRecord] = field(default_factory=list)


def batches(job: MethodJob, pairs: Sequence[Pair]) -> list[tuple[Pair, ...]]:
    """``pairs`` in the calls that register them: one pair per call, or, for a method
    with ``register_batch`` and ``job.batch_pairs`` above 1, up to that many consecutive
    pairs sharing their fixed image."""
    size = job.batch_pairs if hasattr(job.method, "register_batch") else 1
    grouped: list[tuple[Pair, ...]] = []
    for pair in pairs:
        last = grouped[-1] if grouped else ()
        if last and len(last) < size and last[0].fixed_id == pair.fixed_id:
            grouped[-1] = (*last, pair)
        else:
            grouped.append((pair,))
    return grouped


def run_task(task: Task, on_record: Callable[[PairRecord], object] | None = None) -> TaskOutcome:
    """Run ``task``, calling ``on_record`` with each record as soon as it exists. A
    worker process that dies or times out (each pair of a batch adds its timeout) is
    replaced by a fresh one for the next pair or batch."""
    def start(job: MethodJob) -> EvaluatorHandle:
        return WorkerProcess(job, task.side_by_side) if task.isolate else InProcess(job)

    outcome = TaskOutcome(task)

    def keep(record: PairRecord) -> None:
        outcome.records.append(record)
        if on_record is not None:
            on_record(record)

    def prepared(remaining: tuple[Pair, ...]) -> EvaluatorHandle | None:
        """A prepared evaluator, or None once ``remaining`` pairs are recorded as failed."""
        evaluator = None
        try:
            evaluator = start(task.job)
            outcome.info = evaluator.prepare(task.timeouts.prepare)
            return evaluator
        except EvaluationFailure as failure:
            if evaluator is not None:
                evaluator.kill()
            outcome.error = str(failure)
            for pair in remaining:
                keep(failed_record(task.job, pair, str(failure)))
            return None
        except BaseException:
            if evaluator is not None:
                evaluator.kill()
            raise

    evaluator = prepared(task.pairs)
    if evaluator is None:
        return outcome
    timeout = task.timeouts.for_pair(task.job.name)
    done = 0
    try:
        for batch in batches(task.job, task.pairs):
            if evaluator is None:  # the last batch crashed or timed out its worker process
                evaluator = prepared(task.pairs[done:])
                if evaluator is None:
                    return outcome
            try:
                for record in evaluator.evaluate(batch, timeout * len(batch) if timeout else None):
                    keep(record)
            except EvaluationFailure as failure:
                for pair in batch:
                    keep(failed_record(task.job, pair, str(failure)))
                evaluator.close()
                evaluator = None
            done += len(batch)
    except BaseException:  # Ctrl-C: do not wait for the pair in progress
        if evaluator is not None:
            evaluator.kill()
        raise
    if evaluator is not None:
        evaluator.close()
    return outcome
