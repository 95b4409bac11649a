"""Where a run's tasks execute: a local pool of worker processes, or a Dask cluster.

Both run :func:`regbench.execution.tasks.run_task` on each task and hand every record back to
the runner, which stores it at once; so results, resume and failure isolation are
the same whichever executor runs them.

- :class:`LocalPool` (the default): ``workers`` threads of this process, each driving
  one worker process at a time. Records arrive pair by pair.
- :class:`DaskExecutor`: tasks submitted to a ``dask.distributed`` cluster, an existing
  one (``--scheduler tcp://HOST:PORT``) or a ``LocalCluster`` it starts
  (``--scheduler local --workers N``). Records arrive task by task. Every Dask worker
  needs regbench and the plugins installed, and, for learning methods, the same
  ``--cache-dir`` (a shared folder), or each machine trains its own copy.

Timings are per pair either way, but methods that run side by side share the
machine's cores: compare speeds from runs with one worker per machine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from regbench.execution.store import PairRecord, failed_record
from regbench.execution.tasks import Task, TaskOutcome, run_task

CONNECT_SECONDS = 10  # how long to try reaching a scheduler
RecordHandler = Callable[[Task, PairRecord], object]
OutcomeHandler = Callable[[TaskOutcome], object]


class Executor(Protocol):
    """Runs tasks; ``workers`` is how many run at once."""

    workers: int

    def run(self, tasks: Sequence[Task], on_record: RecordHandler, on_outcome: OutcomeHandler) -> None:
        """Run every task, calling ``on_record`` for each record and ``on_outcome`` when a task ends."""

    def close(self) -> None:
        """Release what the executor started."""


class LocalPool:
    """Tasks in ``workers`` threads of this process, each driving its own worker process."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers

    def run(self, tasks: Sequence[Task], on_record: RecordHandler, on_outcome: OutcomeHandler) -> None:
        def execute(task: Task) -> None:
            on_outcome(run_task(task, lambda record: on_record(task, record)))

        if self.workers == 1:  # in this thread: a debugger (--no-isolation) stops where it should
            for task in tasks:
                execute(task)
            return
        queue, errors, lock = list(reversed(tasks)), [], threading.Lock()

        def serve() -> None:
            while True:
                with lock:
                    if not queue or errors:
                        return
                    task = queue.pop()
                try:
                    execute(task)
                except BaseException as error:  # noqa: BLE001 - handed to the caller's thread below
                    errors.append(error)
                    return

        # Daemon threads: a Ctrl-C or SIGTERM in the caller's thread ends the run at once
        # (worker processes die with this one), instead of waiting for tasks in progress.
        threads = [threading.Thread(target=serve, name=f"regbench-{n}", daemon=True)
                   for n in range(min(self.workers, len(tasks)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Nothing outlives a run."""


class DaskExecutor:
    """Tasks on a Dask cluster (see module doc)."""

    def __init__(self, scheduler: str, workers: int = 1) -> None:
        from distributed import Client, LocalCluster  # noqa: PLC0415 - an optional dependency

        self.cluster: Any = None
        if scheduler == "local":
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            self.client = Client(scheduler, timeout=CONNECT_SECONDS)
        self.workers = max(1, sum(self.client.nthreads().values()))

    def run(self, tasks: Sequence[Task], on_record: RecordHandler, on_outcome: OutcomeHandler) -> None:
        from distributed import as_completed  # noqa: PLC0415

        futures = {self.client.submit(run_task, task, pure=False): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as error:  # the Dask worker itself died: its pairs failed, the others go on
                reason = f"the Dask task failed ({type(error).__name__}: {error})"
                outcome = TaskOutcome(task, records=[failed_record(task.job, pair, reason) for pair in task.pairs])
            for record in outcome.records:
                on_record(task, record)
            on_outcome(outcome)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
