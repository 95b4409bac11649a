"""The layering docs/architecture.md promises: outputs read files without torch or
plugins, plugins use only the public API, and parameters are typed once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from regbench_methods.eca_unet import EcaUNetMethod
from regbench_methods.vxm import Vxm1

from regbench.plugin import options

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = {"regbench", "regbench.data", "regbench.learning", "regbench.measuring"}


def test_report_and_compare_load_neither_torch_nor_a_plugin():
    code = ("import sys, regbench.cli.results, regbench.outputs.report, regbench.outputs.compare\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'regbench_methods', 'regbench_metrics', 'regbench_datasets', 'tensorflow'))\n"
            "print(heavy)")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "[]"


def test_importing_regbench_loads_no_torch():
    code = "import sys, regbench; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted([*ROOT.glob("plugins/*/*.py"), *ROOT.glob("datasets/*/*.py")]),
                         ids=lambda path: str(path.relative_to(ROOT)))
def test_in_repo_plugins_import_only_the_public_api(path):
    internal = {name for name in _imports(path) if name.split(".")[0] == "regbench" and name not in PUBLIC}
    assert not internal, f"{path.name} imports {sorted(internal)}; use regbench or {sorted(PUBLIC - {'regbench'})}"


def test_parameters_reach_the_method_typed():
    method = EcaUNetMethod(dense="false", eca="true")  # as text from the command line
    assert method.params["dense"] is False and method.params["eca"] is True
    assert Vxm1(int_steps="7").params["int_steps"] == 7


@pytest.mark.parametrize(("given", "message"), [
    ({"int_steps": "seven"}, r"int_steps expects an int"),
    ({"int_steps": 2.5}, r"int_steps expects an int"),
    ({"dense": "maybe"}, r"dense expects true or false"),
    ({"similarity": "mi"}, r"similarity must be one of mse, ncc"),
    ({"reg_weight": "lots"}, r"reg_weight expects a number or 'auto'"),
    ({"no_such": 1}, r"has no option 'no_such'"),
])
def test_a_bad_parameter_names_the_method_and_what_was_expected(given, message):
    method = EcaUNetMethod if "dense" in given else Vxm1
    with pytest.raises(ValueError, match=message):
        method(**given)


def test_reg_weight_defaults_to_voxelmorphs_choice_for_the_similarity():
    assert Vxm1().params["reg_weight"] == 0.01
    assert Vxm1(similarity="ncc").params["reg_weight"] == 1.0
    assert Vxm1(similarity="ncc", reg_weight="0.5").params["reg_weight"] == 0.5
    assert EcaUNetMethod(similarity="ncc").params["reg_weight"] == 1.0


def test_resolving_resolved_parameters_changes_nothing():
    resolved = Vxm1.resolve_params({"similarity": "ncc", "int_steps": "7"})
    assert Vxm1.resolve_params(resolved) == resolved
    assert options.resolve("x", {"a": (1, 2)}, {"a": "3,4"}) == {"a": (3, 4)}
