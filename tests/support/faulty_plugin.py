"""A plugin of methods that misbehave in every way the fault tests need.

It is a real module on the test path (``-p faulty_plugin``), not classes made inside
a test, because the methods run in worker processes that import it. Faults that
should hit only the first pair use a marker file in ``$FAULTY_MARKERS``: the first
worker to get there creates it and fails; later pairs, in fresh workers, succeed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

import numpy as np
import torch
from regbench_methods.identity import Identity
from torch import nn

import regbench
from regbench.learning import LearnedMethod


def _zeros(fixed: np.ndarray, dtype: type = np.float32) -> regbench.RegistrationResult:
    return regbench.RegistrationResult(np.zeros((fixed.ndim, *fixed.shape), dtype))


def _first_time(name: str) -> bool:
    """True for the first call in this test (across processes), False afterwards."""
    marker = Path(os.environ["FAULTY_MARKERS"]) / name
    if marker.exists():
        return False
    marker.touch()
    return True


class Raises(Identity):
    name = "raises"

    def register(self, fixed, moving):
        raise RuntimeError("the solver diverged")


class Segfaults(Identity):
    name = "segfaults"

    def register(self, fixed, moving):
        ctypes.string_at(0)  # reads address 0: a real segmentation fault
        return _zeros(fixed)


class SegfaultsOnce(Identity):
    name = "segfaults-once"

    def register(self, fixed, moving):
        if _first_time(self.name):
            ctypes.string_at(0)
        return _zeros(fixed)


class KilledForMemory(Identity):
    """What the kernel's out-of-memory killer does to a process: SIGKILL."""

    name = "oom-killed"

    def register(self, fixed, moving):
        os.kill(os.getpid(), signal.SIGKILL)


class Exits(Identity):
    name = "exits"

    def register(self, fixed, moving):
        os._exit(3)  # a library calling exit() deep inside


class Hangs(Identity):
    name = "hangs"

    def register(self, fixed, moving):
        while True:  # busy, never checks a flag: only a kill stops it
            time.sleep(0.01)


class HangsPreparing(Identity):
    name = "hangs-preparing"

    def prepare(self, context):
        time.sleep(3600)


class RunsOutOfMemory(Identity):
    name = "memory-error"

    def register(self, fixed, moving):
        np.ones(2**62, dtype=np.uint8)  # a real allocation failure (4 EiB)
        return _zeros(fixed)


class NaNField(Identity):
    name = "nan-field"

    def register(self, fixed, moving):
        field = _zeros(fixed).displacement
        field[0, 0, 0] = np.nan
        return regbench.RegistrationResult(field)


class WrongShape(Identity):
    name = "wrong-shape"

    def register(self, fixed, moving):
        return regbench.RegistrationResult(np.zeros(fixed.shape, np.float32))


class WrongDtype(Identity):
    name = "wrong-dtype"

    def register(self, fixed, moving):
        return _zeros(fixed, np.int64)


class NotAnArray(Identity):
    name = "not-an-array"

    def register(self, fixed, moving):
        return regbench.RegistrationResult(_zeros(fixed).displacement.tolist())


class Slow(Identity):
    """Identity that, when ``$FAULTY_PAUSE`` names a pipe, stops before its third pair:
    it says so through the pipe (its first two results are stored by then) and waits
    to be killed, so a test interrupts a run at a known point without guessing times."""

    name = "slow"
    pairs = 0

    def register(self, fixed, moving):
        Slow.pairs += 1
        pause = os.environ.get("FAULTY_PAUSE")
        if pause and Slow.pairs == 3:
            Path(pause).write_text("paused\n")  # opening a pipe blocks until the test reads it
            time.sleep(3600)
        return _zeros(fixed)


class _OutOfMemoryNet(nn.Module):
    """A network that runs out of memory as a test asks: CUDA's error for any training
    batch of more than one image, or the host's ``MemoryError`` the first time it
    registers a pair (outside training)."""

    def __init__(self, ndim: int, on_training: bool) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(()))
        self.on_training = on_training

    def forward(self, moving, fixed):
        if self.on_training and self.training and moving.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                                              "capacity of 79.19 GiB of which 1.02 GiB is free.")
        if not self.on_training and not self.training and _first_time("out-of-memory-pair"):
            raise MemoryError()
        return torch.zeros((moving.shape[0], moving.ndim - 2, *moving.shape[2:])) + self.scale * moving


class OutOfMemoryTraining(LearnedMethod):
    name = "oom-training"
    size_multiple = 1

    def build_network(self, ndim):
        return _OutOfMemoryNet(ndim, on_training=True)


class OutOfMemoryOnePair(LearnedMethod):
    name = "oom-one-pair"
    size_multiple = 1

    def build_network(self, ndim):
        return _OutOfMemoryNet(ndim, on_training=False)


METHODS = (Raises, Segfaults, SegfaultsOnce, KilledForMemory, Exits, Hangs, HangsPreparing, RunsOutOfMemory,
           NaNField, WrongShape, WrongDtype, NotAnArray, Slow, OutOfMemoryTraining, OutOfMemoryOnePair)


@regbench.hookimpl
def regbench_register_methods(register):
    for method in METHODS:
        register(method)
