"""A cheap method whose result depends on a parameter and on the seed, for the tests of
variants, seeds and the seed-aware gate (``-p seeded_plugin``): a real module on the
test path because methods run in worker processes that import it."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

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


@regbench.hookimpl
def regbench_register_methods(register) -> None:
    register(Shift)
