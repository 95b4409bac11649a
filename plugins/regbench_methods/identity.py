"""``identity``: no motion at all, the floor every method must beat."""

from __future__ import annotations

import numpy as np

from regbench import Method, RegistrationResult, Registry, hookimpl


class Identity(Method):
    name = "identity"
    description = "no motion (zero displacement): the floor"
    seeded = False

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        return RegistrationResult(np.zeros((fixed.ndim, *fixed.shape), dtype=np.float32))


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    register(Identity)
