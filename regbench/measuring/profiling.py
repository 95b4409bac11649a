"""Peak process memory (RSS) while a piece of work runs.

The operating system keeps a peak RSS per process, but for the whole lifetime, which
cannot tell one method from the next in one run. On Linux that peak ("VmHWM") can be
reset by writing 5 to ``/proc/self/clear_refs``: reset before the work, read after,
exact and free. Elsewhere a background thread samples the RSS with psutil while the
work runs; that costs a little time (on 2 cores, a few % of a PyTorch forward pass).
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

import psutil

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _linux_peak_kib() -> int | None:
    """VmHWM in KiB, or None where /proc does not offer it."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_linux_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _linux_peak_kib() is not None


class PeakRSS:
    """``with PeakRSS() as peak: work()`` then ``peak.mb``: the highest RSS, in MiB, and
    ``peak.increase_mb``: how far above the RSS at the start it went (what the work
    itself needed, whatever the process held before)."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self._peak_bytes = 0
        self._start_bytes = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def sample(self) -> None:
        """Take the RSS into account now (the sampler does every ``interval_s``; on Linux
        the kernel's peak needs none)."""
        self._peak_bytes = max(self._peak_bytes, psutil.Process().memory_info().rss)

    def _sample_until_stopped(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> PeakRSS:
        self._start_bytes = psutil.Process().memory_info().rss
        if not _reset_linux_peak():
            self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._thread is None:
            self._peak_bytes = (_linux_peak_kib() or 0) * 1024
            return
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def mb(self) -> float:
        return self._peak_bytes / 2**20

    @property
    def increase_mb(self) -> float:
        return max(self._peak_bytes - self._start_bytes, 0) / 2**20
