"""The plugin passes regbench's conformance suite (regbench.testing)."""

from regbench_demons import Demons

from regbench.testing import MethodConformance


class TestDemons(MethodConformance):
    method = Demons
    params = {"iterations": 10}
