"""Non-diffeomorphic volume (NDV) of Liu et al. (IJCV 2024), as a regbench plugin: the
% of the image that the field turns inside out, read as a piecewise-linear map on
Liu et al.'s tetrahedra (triangles in 2D), as the LUMIR challenge (Learn2Reg 2024)
scores it (:mod:`regbench.measuring.diffeomorphism`). Unlike the central-difference
folding of the ``jacobian`` metric, it sees checkerboard folds.

Scored over the whole image less a one-voxel border, as LUMIR's script does without a
mask; LUMIR itself restricts it to the moving image > 0 (its brain), which only
brain-masked data makes meaningful, so NDV here can differ from a LUMIR leaderboard's
on the same field by that normaliser and the background's folds.
"""

from __future__ import annotations

from regbench import Column, Metric, MetricValues, PairOutcome, Registry, hookimpl
from regbench.measuring import diffeomorphism
from regbench_metrics.standard import COMMON

_SCORED = "over every voxel but a one-voxel border (cropped, as LUMIR's script)"


class Ndv(Metric):
    name = "ndv"
    description = "non-diffeomorphic volume (Liu et al. 2024, as LUMIR scores it) and non-diffeomorphic voxels"
    columns = (
        Column("ndv_percent", "NDV (%)", f"100 x NDV / scored voxels, NDV = 1/2 sum over scored voxels of "
               f"V x max(-J, 0) over each voxel's simplices: 3D, 8 corner tetrahedra {{x, x ± e0, x ± e1, x ± e2}} "
               f"(one-sided differences, V = 1/6) and the 2 central tetrahedra of the 5-tetrahedra splits of the "
               f"cubes on either side of x (V = 1/3); 2D, 4 corner triangles (V = 1/2); J = deformed over reference "
               f"volume of the simplex under x + u(x); {_SCORED}", better="lower", format=".4g", family=COMMON,
               figure="validity"),
        Column("ndv_voxels", "non-diff. voxels", f"number of voxels where det J of x + u(x) from central "
               f"differences is ≤ 0 (Liu et al.'s non-diffeomorphic voxels), {_SCORED}", better="lower",
               format=".0f", family=COMMON),
    )

    def compute(self, outcome: PairOutcome) -> MetricValues:
        result = diffeomorphism.non_diffeomorphic_volume(outcome.displacement)
        return {"ndv_percent": result.percent, "ndv_voxels": float(result.voxels)}


@hookimpl
def regbench_register_metrics(register: Registry[Metric]) -> None:
    register(Ndv)
