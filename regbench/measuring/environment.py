"""The environment a result was measured in, stored beside every result row."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
from collections.abc import Iterable

import torch

import regbench
from regbench.measuring.contention import usable_cores

CORE_DISTRIBUTIONS = ("numpy", "torch")


def distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@functools.cache
def _module_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def module_versions(modules: Iterable[str]) -> str:
    """``"antspyx 0.6.3"`` for ``["ants"]``: the distributions that provide the modules."""
    distributions = sorted({dist for module in modules for dist in _module_distributions().get(module, [module])})
    return "; ".join(f"{dist} {distribution_version(dist)}" for dist in distributions)


@functools.cache
def describe() -> dict[str, str | int]:
    """Columns that say where and with what a run was measured."""
    columns: dict[str, str | int] = {
        "regbench_version": regbench.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu": platform.processor() or platform.machine(),
        "cpu_cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    for name in CORE_DISTRIBUTIONS:
        columns[f"{name}_version"] = distribution_version(name)
    return columns
