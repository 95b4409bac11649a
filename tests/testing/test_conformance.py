"""regbench's own methods pass the conformance suite it offers plugin authors
(regbench.testing), which shows the suite asks nothing a real method cannot do."""

from __future__ import annotations

from regbench_methods.ants import AntsSyN
from regbench_methods.eca_unet import EcaUNetMethod
from regbench_methods.identity import Identity
from regbench_methods.vxm import Vxm1

from regbench.testing import MethodConformance


class TestIdentity(MethodConformance):
    method = Identity
    recovers_motion = False  # the floor: its convention check asserts it never moves


class TestVxm1(MethodConformance):
    method = Vxm1


class TestEcaUNet(MethodConformance):
    method = EcaUNetMethod


class TestAntsSyN(MethodConformance):
    method = AntsSyN
    # SyN's default pyramid shrinks 8 times: on 32 pixels or 16 voxels a side its coarsest level
    # holds 4 or 2, and a shift of 2 voxels goes astray. Measured: right from 48 and 24 a side.
    shape_2d = (48, 48)
    shape_3d = (24, 24, 24)
