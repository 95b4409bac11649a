"""Run an evaluator where it cannot take the benchmark down: in a worker process with
hard timeouts. Both ends of the conversation live here.

The parent side, :class:`WorkerProcess`, starts ``python -m regbench.execution.process``
in a session of its own, talks to it over a socket, and waits for each answer at most
the timeout. A worker process that does not answer in time is killed with its whole
process group (a hung solver is killed mid-iteration, not at its next check); one
that dies (segmentation fault, out-of-memory kill, ``os._exit``) is reported with the
signal or exit status. Either way the caller gets an :class:`EvaluationFailure` naming
what happened and what the worker process was doing, and starts a fresh one for the
next pair.

The child side, :func:`serve`, says ``("ok", "ready")`` once started, then answers
``("prepare", job)`` and ``("evaluate", pairs)`` requests, each with ``("ok", result)``
or ``("error", text)``, until the parent sends ``None`` or goes away.

:class:`InProcess` has the same interface without a process: for debuggers
(``regbench run --no-isolation``); it cannot enforce timeouts or survive crashes.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

from regbench.execution.evaluation import Evaluator, error_text
from regbench.execution.plan import MethodJob
from regbench.execution.store import MethodInfo, PairRecord
from regbench.measuring.contention import openmp_wait_policy
from regbench.plugin.dataset import Pair

CLOSE_GRACE_SECONDS = 10.0
START_SECONDS = 300.0  # for a worker process to import Python, regbench and torch


class EvaluationFailure(Exception):
    """A method could not be prepared, or its worker process died or timed out."""


class EvaluatorHandle(Protocol):
    """What a task drives: an evaluator in a worker process, or in this one."""

    def prepare(self, timeout: float | None) -> MethodInfo: ...

    def evaluate(self, pairs: Sequence[Pair], timeout: float | None) -> list[PairRecord]: ...

    def close(self) -> None:
        """Release the evaluator once its work is done."""

    def kill(self) -> None:
        """Stop the evaluator now, whatever it is doing."""


# --- the parent's side ----------------------------------------------------------------

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


def _child_environment(side_by_side: bool) -> dict[str, str]:
    """The parent's environment, with its ``sys.path`` (so the worker process imports
    plugin modules exactly as the parent found them, including ``-p`` modules from the
    current folder) and OpenMP's wait policy for a worker that shares its cores
    (:func:`regbench.measuring.contention.openmp_wait_policy`)."""
    path = [entry or os.getcwd() for entry in sys.path]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    policy = openmp_wait_policy(side_by_side)
    if policy is not None:
        environment["OMP_WAIT_POLICY"] = policy
    return environment


class WorkerProcess:
    """An :class:`Evaluator` in a worker process (see module doc); ``side_by_side``: other
    worker processes of the run share the machine."""

    def __init__(self, job: MethodJob, side_by_side: bool = False) -> None:
        self.job = job
        try:
            pickle.dumps(job)  # fail here, with advice, rather than inside the worker process
        except Exception as error:
            raise EvaluationFailure(
                f"method {job.name!r} cannot be sent to a worker process ({error_text(error)}); define its "
                f"classes at the top level of an importable module, or run with --no-isolation"
            ) from None
        ours, theirs = socket.socketpair()
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "regbench.execution.process", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                start_new_session=True,  # its own process group: killed as a whole
                env=_child_environment(side_by_side),
            )
        self.connection = Connection(ours.detach())

    def prepare(self, timeout: float | None) -> MethodInfo:
        self._call(None, START_SECONDS, "starting")  # timeouts count from a started worker process
        return self._call(("prepare", self.job), timeout, "preparing (training or loading)")

    def evaluate(self, pairs: Sequence[Pair], timeout: float | None) -> list[PairRecord]:
        doing = f"registering pair {pairs[0].id}" + (f" and {len(pairs) - 1} more" if len(pairs) > 1 else "")
        return self._call(("evaluate", tuple(pairs)), timeout, doing)

    def _call(self, request: tuple[Any, ...] | None, timeout: float | None, doing: str) -> Any:
        """Send ``request`` (None: only wait for the next answer) and wait for the answer."""
        try:
            if request is not None:
                self.connection.send(request)
            answered = self.connection.poll(timeout)
        except OSError:  # the worker process died before it could read the request
            answered = True
        if not answered:
            self.kill()
            raise EvaluationFailure(f"timed out after {timeout:g} s while {doing}; the worker process was killed")
        try:
            kind, payload = self.connection.recv()
        except (EOFError, OSError):
            raise EvaluationFailure(f"{describe_exit(self.process.wait())} while {doing}") from None
        if kind == "error":
            raise EvaluationFailure(payload)
        return payload

    def kill(self) -> None:
        """Kill the worker process and anything it started."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def close(self) -> None:
        """Ask the worker process to finish; kill it if it does not within a grace period."""
        try:
            self.connection.send(None)
            self.process.wait(CLOSE_GRACE_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()
        self.connection.close()


class InProcess:
    """An :class:`Evaluator` in this process: no timeouts, no crash isolation (see module doc)."""

    def __init__(self, job: MethodJob) -> None:
        self._evaluator = Evaluator(job)

    def prepare(self, timeout: float | None) -> MethodInfo:
        try:
            return self._evaluator.prepare()
        except Exception as error:
            raise EvaluationFailure(error_text(error)) from error

    def evaluate(self, pairs: Sequence[Pair], timeout: float | None) -> list[PairRecord]:
        return self._evaluator.evaluate(pairs)

    def close(self) -> None:
        """Nothing to release."""

    def kill(self) -> None:
        """Nothing to stop: an interrupt already stopped this process's method."""


# --- the worker process's side --------------------------------------------------------

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the regbench run that started it dies (even
    by ``kill -9``), so no orphaned worker process keeps training or registering."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def serve(connection: Connection) -> None:
    """Answer the parent's requests (see module doc)."""
    evaluator: Evaluator | None = None
    connection.send(("ok", "ready"))  # start-up (Python, regbench, torch) is not the method's time
    while True:
        try:
            request = connection.recv()
        except EOFError:  # the parent is gone
            return
        except Exception as error:  # e.g. a class that cannot be imported here
            connection.send(("error", f"the worker process could not load its task: {error_text(error)}"))
            continue
        if request is None:
            return
        try:
            if request[0] == "prepare":
                evaluator = Evaluator(request[1])
                connection.send(("ok", evaluator.prepare()))
            else:
                assert evaluator is not None, "evaluate before prepare"
                connection.send(("ok", evaluator.evaluate(request[1])))
        except Exception as error:
            connection.send(("error", error_text(error)))


def main(argv: Sequence[str]) -> None:
    """``python -m regbench.execution.process FD``: serve on the socket inherited as file descriptor FD."""
    _die_with_parent()
    sock = socket.socket(fileno=int(argv[0]))
    serve(Connection(sock.detach()))


if __name__ == "__main__":
    main(sys.argv[1:])
