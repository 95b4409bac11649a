"""How busy the rest of the machine was while a piece of work ran.

A method timed while another process competes for the cores reads slower than it is
(on 2 cores, a network of many small kernels ran 30× slower beside one busy loop).
:class:`OtherProcessesCPU` measures, around the timed work, the CPU seconds the whole
machine spent busy (``/proc/stat``, via psutil) minus those of this process: what
other processes took. Divided by the wall time and the usable cores, it is the share
of the machine they used; regbench flags timings taken above
:data:`regbench.outputs.schema.CONTENTION_LIMIT` and does not judge speed from them.
The clock behind it ticks in 10 ms steps, so a single short pair reads coarsely; a
method's share is summed over all its pairs.

The cause of the 30×: PyTorch's OpenMP threads spin while they wait for each other,
and a spinning thread keeps a core the thread it waits for needs. Worker processes
that will share their cores therefore let waiting threads sleep
(:func:`openmp_wait_policy`): beside one busy process vxm1 then registers at about its
idle speed instead of 30× slower, while an idle machine keeps the faster spinning.
"""

from __future__ import annotations

import os
import time
from types import TracebackType

import psutil

# Timings taken while other processes used more than this share of the usable cores
# are flagged, and regbench compare does not judge speed from them.
CONTENTION_LIMIT = 0.15


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), which can be fewer than the machine has."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _own_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


class OtherProcessesCPU:
    """``with OtherProcessesCPU() as others: work()`` then ``others.seconds``: the CPU
    seconds other processes used meanwhile (never negative)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._machine = self._own = 0.0

    def __enter__(self) -> OtherProcessesCPU:
        self._machine, self._own = _machine_busy_seconds(), _own_seconds()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        machine, own = _machine_busy_seconds() - self._machine, _own_seconds() - self._own
        self.seconds = max(machine - own, 0.0)


def others_share_now(window_s: float = 0.1) -> float:
    """The share of the usable cores other processes take, measured over ``window_s``."""
    with OtherProcessesCPU() as others:
        time.sleep(window_s)
    return others.seconds / (window_s * usable_cores())


def openmp_wait_policy(side_by_side: bool) -> str | None:
    """``PASSIVE`` (waiting OpenMP threads sleep) for a worker process that will share its
    cores: with others of the same run (``side_by_side``) or with busy processes now;
    None (OpenMP's spinning default) on a quiet machine, or when the user set
    ``OMP_WAIT_POLICY`` themselves."""
    if "OMP_WAIT_POLICY" in os.environ:
        return None
    return "PASSIVE" if side_by_side or others_share_now() > CONTENTION_LIMIT else None
