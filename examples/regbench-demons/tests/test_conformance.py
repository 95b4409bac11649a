"""The plugin passes regbench's conformance suite (regbench.plugin.testing)."""

from regbench_demons import Demons

from regbench.plugin.testing import MethodConformance


class TestDemons(MethodConformance):
    method = Demons
    plugin = "regbench_demons"
    params = {"iterations": 10}
