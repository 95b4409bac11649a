"""``dipy-syn``: DIPY's symmetric diffeomorphic registration (SyN), 2D and 3D.

The settings are those of ``dipy.align.syn_registration``, DIPY's own entry point:
cross-correlation (``CCMetric``: smoothing sigma 2, radius 4), three levels of 10, 10
and 5 iterations, step length 0.25. DIPY's forward field is regbench's convention
already (voxel units for images without an affine; ``transform(moving)`` reads
``moving(x + u(x))``), so the field goes to the harness as it is.

SyN has no random step: the method does not depend on its seed and runs once per
``--seeds``. It runs on one thread whatever ``--threads`` says: DIPY's SyN loops
(``dipy.align.crosscorr``, ``vector_fields``) are compiled without OpenMP.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np

from regbench import Method, Range, RegistrationResult, Registry, TrainingContext, hookimpl


class DipySyN(Method):
    name = "dipy-syn"
    description = "DIPY SyN (symmetric diffeomorphic, cross-correlation; dipy.align.syn_registration's defaults)"
    default_params: ClassVar = {"level_iters": (10, 10, 5), "radius": 4, "sigma_diff": 2.0, "step_length": 0.25}
    param_rules: ClassVar = {"level_iters": Range(at_least=0), "radius": Range(at_least=1),
                             "sigma_diff": Range(above=0), "step_length": Range(above=0)}
    seeded = False

    def prepare(self, context: TrainingContext) -> None:
        import dipy.align.imwarp  # noqa: F401, PLC0415 - imported now, not within the first pair's timing

    def mapping(self, fixed: np.ndarray, moving: np.ndarray):  # noqa: ANN201 - a dipy DiffeomorphicMap
        """DIPY's result: the map whose ``transform`` warps ``moving`` onto ``fixed``."""
        from dipy.align.imwarp import SymmetricDiffeomorphicRegistration  # noqa: PLC0415
        from dipy.align.metrics import CCMetric  # noqa: PLC0415

        metric = CCMetric(fixed.ndim, sigma_diff=self.params["sigma_diff"], radius=self.params["radius"])
        syn = SymmetricDiffeomorphicRegistration(metric, level_iters=list(self.params["level_iters"]),
                                                 step_length=self.params["step_length"])
        quiet = logging.getLogger("dipy")
        level = quiet.level
        quiet.setLevel(logging.WARNING)  # DIPY logs every level it optimises at INFO
        try:
            return syn.optimize(np.asarray(fixed, np.float64), np.asarray(moving, np.float64))
        finally:
            quiet.setLevel(level)

    def register(self, fixed: np.ndarray, moving: np.ndarray) -> RegistrationResult:
        field = self.mapping(fixed, moving).get_forward_field()  # (*spatial, ndim), voxels
        return RegistrationResult(np.ascontiguousarray(np.moveaxis(field, -1, 0), dtype=np.float32))


@hookimpl
def regbench_register_methods(register: Registry[Method]) -> None:
    register(DipySyN, requires=("dipy",), install="pip install 'regbench[dipy]'")
