"""Methods that make the two convention mistakes plugin authors make most often: a
correct registration (ANTs affine) whose field is handed back pushing forward, or with
its components in ITK's (x, y, z) order. Their tables look plausible; the conformance
kit and the run's table must say what is wrong."""

from __future__ import annotations

import numpy as np
from regbench_methods.ants import AntsAffine

import regbench


class PushForward(AntsAffine):
    name = "push-forward"
    description = "ANTs affine, its field negated: fixed(x) = moving(x - u(x))"

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> regbench.RegistrationResult:
        return regbench.RegistrationResult(-super().register(fixed, moving).displacement)


class AxesAsXY(AntsAffine):
    name = "axes-as-xy"
    description = "ANTs affine, its components in (x, y, z) order"

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> regbench.RegistrationResult:
        return regbench.RegistrationResult(np.ascontiguousarray(super().register(fixed, moving).displacement[::-1]))


@regbench.hookimpl
def regbench_register_methods(register: regbench.Registry[regbench.Method]) -> None:
    register(PushForward)
    register(AxesAsXY)
