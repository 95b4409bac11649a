"""A cheap method whose result depends on a parameter and on the seed, for the tests of
variants, seeds and the seed-aware gate (``-p seeded_plugin``), and a second synthetic
dataset, for training on one dataset and testing on another: a real module on the test
path because methods run in worker processes that import it."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from regbench_datasets.synthetic import Synthetic

import regbench


class Shift(regbench.Method):
    """Moves every voxel by ``shift`` voxels along the first axis, plus a seeded jitter."""

    name = "shift"
    description = "a constant shift with a seeded jitter (tests only)"
    default_params: ClassVar[dict[str, Any]] = {"shift": 0.0, "jitter": 2.0, "widths": (8, 16)}

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> regbench.RegistrationResult:
        offset = self.params["shift"] + self.params["jitter"] * np.random.default_rng(self.seed).uniform(-1, 1)
        displacement = np.zeros((fixed.ndim, *fixed.shape), np.float32)
        displacement[0] = offset
        return regbench.RegistrationResult(displacement)


class OtherAnatomy(Synthetic):
    """``synthetic``'s generator with another random anatomy and intensities."""

    name = "other-anatomy"
    description = "synthetic with another anatomy (tests only)"
    default_options = {**Synthetic.default_options, "seed": 7}


@regbench.hookimpl
def regbench_register_methods(register) -> None:
    register(Shift)


@regbench.hookimpl
def regbench_register_datasets(register) -> None:
    register(OtherAnatomy)
