"""Peak RSS per piece of work, on both ways of measuring it."""

from __future__ import annotations

import numpy as np
import pytest

from regbench.measuring import profiling
from regbench.measuring.profiling import PeakRSS


def allocate(mib: int, peak: PeakRSS | None = None) -> None:
    block = np.ones(mib * 2**20 // 8)
    block[::4096] += 1  # touch every page
    if peak is not None:
        peak.sample()  # what the sampler sees while the block is held, without waiting for it
    del block


@pytest.mark.parametrize("linux_reset", [True, False], ids=["clear_refs", "sampling"])
def test_peak_sees_a_transient_allocation_and_forgets_earlier_ones(linux_reset, monkeypatch):
    if not linux_reset:
        monkeypatch.setattr(profiling, "_reset_linux_peak", lambda: False)
    elif not profiling._reset_linux_peak():
        pytest.skip("no /proc/self/clear_refs here")
    allocate(300)  # an earlier peak that must not count
    with PeakRSS() as baseline:
        pass
    with PeakRSS(interval_s=0.001) as peak:
        allocate(200, peak)
    assert baseline.mb < peak.mb
    assert 150 < peak.mb - baseline.mb < 260
    assert 150 < peak.increase_mb < 260 and baseline.increase_mb < 50
