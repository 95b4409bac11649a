"""``demons``: Thirion's demons (Med. Image Anal. 1998), the smallest real deformable
method: push each voxel along the image gradient by the intensity difference, then
smooth the field with a Gaussian, for a fixed number of iterations.

An example of a third-party regbench plugin: one ``regbench.Method`` subclass, one hook,
an entry point in pyproject.toml, and the conformance suite in tests/.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

import regbench


class Demons(regbench.Method):
    name = "demons"
    description = "Thirion's demons (numpy/scipy): gradient forces, Gaussian-smoothed field"
    default_params = {"iterations": 50, "sigma": 1.5}
    param_rules = {"iterations": regbench.Range(at_least=1), "sigma": regbench.Range(above=0)}

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> regbench.RegistrationResult:
        grid = np.indices(fixed.shape, dtype=np.float32)
        field = np.zeros((fixed.ndim, *fixed.shape), np.float32)  # pull-back: warped(x) = moving(x + u(x))
        for _ in range(self.params["iterations"]):
            warped = ndimage.map_coordinates(moving, grid + field, order=1, mode="nearest")
            difference = warped - fixed
            gradient = np.stack(np.gradient(warped))
            denominator = (gradient**2).sum(axis=0) + difference**2
            force = np.where(denominator > 1e-9, difference / np.maximum(denominator, 1e-9), 0.0)
            field -= force * gradient
            field = np.stack([ndimage.gaussian_filter(component, self.params["sigma"]) for component in field])
        return regbench.RegistrationResult(field.astype(np.float32))


@regbench.hookimpl
def regbench_register_methods(register: regbench.Registry[regbench.Method]) -> None:
    register(Demons)
