"""Which device learning methods use, and how to time and measure work on it.

CUDA kernels run asynchronously: a timer stopped without synchronising measures only
the launch. Every timing in regbench goes through :func:`synchronize`.
"""

from __future__ import annotations

import torch


def pick_device() -> torch.device:
    """CUDA when a GPU is there, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device | str) -> str:
    """``cpu`` or ``cuda: NVIDIA H100 ...``: what a result row records."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return device.type


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device | str) -> float | None:
    """Peak CUDA memory allocated since the last reset, in MiB; None on the CPU."""
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def cpu_threads() -> int:
    """The number of threads torch's CPU work uses in this process (a run's default)."""
    return torch.get_num_threads()


def use_threads(count: int | None) -> None:
    """Run torch's CPU work on ``count`` threads (None: torch's default). Results of
    training depend on it (sums are split differently), so every worker of a run uses
    the same count, wherever it runs."""
    if count is not None:
        torch.set_num_threads(count)
