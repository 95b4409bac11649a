"""Every benchmark here is also expressed as a ratio to regbench's reference workload
(:mod:`regbench.measuring.reference`), timed in the same session: the ratios, printed at the end,
are what stays comparable between runs and machines."""

from __future__ import annotations

import pytest

from regbench.measuring.reference import reference_seconds

_RATIOS: list[tuple[str, float, float]] = []


@pytest.fixture(scope="session")
def reference() -> float:
    return reference_seconds(repeats=30)


@pytest.fixture
def as_ratio(benchmark, reference, request):
    """Call after ``benchmark(...)``: records the median and its ratio to the reference."""

    def record() -> float:
        median = benchmark.stats.stats.median
        _RATIOS.append((request.node.name, median, median / reference))
        return median / reference

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    if not _RATIOS:
        return
    terminalreporter.section("medians as ratios to the reference workload")
    width = max(len(name) for name, _, _ in _RATIOS)
    terminalreporter.write_line(f"{'benchmark':<{width}}  {'median ms':>10}  {'ratio':>9}")
    for name, median, ratio in _RATIOS:
        terminalreporter.write_line(f"{name:<{width}}  {1000 * median:>10.3f}  {ratio:>9.4f}")
