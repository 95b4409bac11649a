"""Run a method where it cannot take the benchmark down: in a child process with hard
timeouts.

:class:`IsolatedWorker` starts ``python -m regbench.worker`` in a session of its own,
talks to it over a socket, and waits for each answer at most the timeout. A worker
that does not answer in time is killed with its whole process group (a hung solver
is killed mid-iteration, not at its next check); one that dies (segmentation fault,
out-of-memory kill, ``os._exit``) is reported with the signal or exit status. Either
way the caller gets a :class:`WorkerFailure` naming what happened and what the
worker was doing, and starts a fresh worker for the next pair.

:class:`InProcessWorker` has the same interface without a process: for debuggers
(``regbench run --no-isolation``); it cannot enforce timeouts or survive crashes.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any, Protocol

from regbench.dataset import Pair
from regbench.store import MethodInfo, PairRecord
from regbench.worker import MethodJob, MethodWorker, error_text

CLOSE_GRACE_SECONDS = 10.0
START_SECONDS = 300.0  # for a worker process to import Python, regbench and torch


class WorkerFailure(Exception):
    """A method could not be prepared, or its worker died or timed out."""


class Worker(Protocol):
    """What the runner needs of a worker, in a process of its own or not."""

    def prepare(self, timeout: float | None) -> MethodInfo: ...

    def evaluate(self, pair: Pair, timeout: float | None) -> PairRecord: ...

    def close(self) -> None:
        """Release the worker once its work is done."""

    def kill(self) -> None:
        """Stop the worker now, whatever it is doing."""


def describe_exit(returncode: int) -> str:
    """Why a worker process ended, in words."""
    if returncode >= 0:
        return f"the worker process exited with status {returncode}"
    number = -returncode
    name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
    if number == signal.SIGKILL:
        return f"the worker process was killed ({name}; the kernel's out-of-memory killer sends it)"
    if number == signal.SIGSEGV:
        return f"the worker process crashed ({name}: segmentation fault)"
    return f"the worker process was ended by {name}"


def _child_environment() -> dict[str, str]:
    """The parent's environment, with its ``sys.path`` (so the worker imports plugin
    modules exactly as the parent found them, including ``-p`` modules from the
    current folder)."""
    path = [entry or os.getcwd() for entry in sys.path]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


class IsolatedWorker:
    """A :class:`regbench.worker.MethodWorker` in a child process (see module doc)."""

    def __init__(self, job: MethodJob) -> None:
        self.job = job
        try:
            pickle.dumps(job)  # fail here, with advice, rather than inside the worker
        except Exception as error:
            raise WorkerFailure(
                f"method {job.name!r} cannot be sent to a worker process ({error_text(error)}); define its "
                f"classes at the top level of an importable module, or run with --no-isolation"
            ) from None
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "regbench.worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                start_new_session=True,  # its own process group: killed as a whole
                env=_child_environment(),
            )
        self.connection = Connection(ours.detach())

    def prepare(self, timeout: float | None) -> MethodInfo:
        self._call(None, START_SECONDS, "starting")  # timeouts count from a started worker
        return self._call(("prepare", self.job), timeout, "preparing (training or loading)")

    def evaluate(self, pair: Pair, timeout: float | None) -> PairRecord:
        return self._call(("evaluate", pair), timeout, f"registering pair {pair.id}")

    def _call(self, request: tuple[Any, ...] | None, timeout: float | None, doing: str) -> Any:
        """Send ``request`` (None: only wait for the next answer) and wait for the answer."""
        try:
            if request is not None:
                self.connection.send(request)
            answered = self.connection.poll(timeout)
        except OSError:  # the worker died before it could read the request
            answered = True
        if not answered:
            self.kill()
            raise WorkerFailure(f"timed out after {timeout:g} s while {doing}; the worker process was killed")
        try:
            kind, payload = self.connection.recv()
        except (EOFError, OSError):
            raise WorkerFailure(f"{describe_exit(self.process.wait())} while {doing}") from None
        if kind == "error":
            raise WorkerFailure(payload)
        return payload

    def kill(self) -> None:
        """Kill the worker and anything it started."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def close(self) -> None:
        """Ask the worker to finish; kill it if it does not within a grace period."""
        try:
            self.connection.send(None)
            self.process.wait(CLOSE_GRACE_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()
        self.connection.close()


class InProcessWorker:
    """A :class:`regbench.worker.MethodWorker` in this process: no timeouts, no crash
    isolation (see module doc)."""

    def __init__(self, job: MethodJob) -> None:
        self._worker = MethodWorker(job)

    def prepare(self, timeout: float | None) -> MethodInfo:
        try:
            return self._worker.prepare()
        except Exception as error:
            raise WorkerFailure(error_text(error)) from error

    def evaluate(self, pair: Pair, timeout: float | None) -> PairRecord:
        return self._worker.evaluate(pair)

    def close(self) -> None:
        """Nothing to release."""

    def kill(self) -> None:
        """Nothing to stop: an interrupt already stopped this process's method."""
