"""The environment a result was measured in, stored beside every result row."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import re
from collections.abc import Iterable

import numpy as np
import torch

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


def cpu_model() -> str:
    """The CPU's model name and architecture, e.g. ``Intel(R) Xeon(R) Processor (x86_64)``:
    two machines of one architecture still round differently when their vector units differ."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:  # not Linux
        pass
    model = model or platform.processor()
    return f"{model} ({platform.machine()})" if model else platform.machine()


def blas() -> str:
    """The linear-algebra libraries numbers come from: numpy's BLAS and torch's, e.g.
    ``numpy: scipy-openblas 0.3.30; torch: mkl, oneDNN v3.12.0``."""
    numpy_blas = "unknown"
    try:
        found = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        numpy_blas = f"{found.get('name', '?')} {found.get('version', '')}".strip()
    except (KeyError, TypeError, ValueError):  # an older numpy's show_config
        pass
    config = torch.__config__.show()
    torch_blas = re.search(r"BLAS_INFO=([^,\s]+)", config)
    onednn = re.search(r"MKL-DNN (v[\d.]+)", config)
    parts = [torch_blas.group(1) if torch_blas else "unknown", *([f"oneDNN {onednn.group(1)}"] if onednn else [])]
    return f"numpy: {numpy_blas}; torch: {', '.join(parts)}"


@functools.cache
def describe() -> dict[str, str | int]:
    """Columns that say where and with what a run was measured: enough to tell apart two
    runs whose numbers differ in the last bits (see the README, Reproducibility)."""
    backend = re.search(r"ATen parallel backend: (.+)", torch.__config__.parallel_info())
    columns: dict[str, str | int] = {
        "regbench_version": distribution_version("regbench"),
        "python_version": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu": cpu_model(),
        "cpu_isa": torch.backends.cpu.get_cpu_capability(),
        "cpu_cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "torch_parallel": backend.group(1).strip() if backend else "unknown",
        "blas": blas(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    for name in CORE_DISTRIBUTIONS:
        columns[f"{name}_version"] = distribution_version(name)
    return columns
