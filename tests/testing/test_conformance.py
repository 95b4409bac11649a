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
    plugin = "regbench_methods.identity"


class TestVxm1(MethodConformance):
    method = Vxm1
    plugin = "regbench_methods.vxm"


class TestEcaUNet(MethodConformance):
    method = EcaUNetMethod
    plugin = "regbench_methods.eca_unet"


class TestAntsSyN(MethodConformance):
    method = AntsSyN
    plugin = "regbench_methods.ants"
