"""A fixed reference workload, timed in every run, so speeds can be compared as ratios.

Absolute seconds on shared machines drift with load, frequency scaling and hardware;
the time of a method divided by the time of a fixed workload measured in the same run,
on the same machine, drifts much less. The workload mixes what registration methods
spend their time on: a PyTorch convolution (networks) and numpy array arithmetic
(classical methods, metrics).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch


def reference_operation() -> float:
    """One run of the reference workload (about 5 ms on a 2-core machine); returns a checksum."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(1, 8, 160, 192, generator=generator)
    weights = torch.rand(8, 8, 3, 3, generator=generator) / 72
    with torch.inference_mode():
        for _ in range(4):
            images = torch.nn.functional.conv2d(images, weights, padding=1)
    array = np.random.default_rng(0).random((160, 192))
    for _ in range(8):
        array = np.sqrt(np.abs(np.gradient(array, axis=0) + array.T.reshape(160, 192)))
    return float(images.sum()) + float(array.sum())


def time_reference() -> float:
    """Seconds of one run of the reference workload."""
    started = time.perf_counter()
    reference_operation()
    return time.perf_counter() - started


def reference_seconds(repeats: int = 15) -> float:
    """Median seconds of the reference workload (after one warm-up run)."""
    reference_operation()
    return statistics.median(time_reference() for _ in range(repeats))
