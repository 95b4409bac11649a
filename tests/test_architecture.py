"""The layering docs/architecture.md promises: the host's packages import only the
layers below them (no circle), outputs read files without torch or plugins, plugins
use only the public API the README names, and parameters are typed once."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest
from regbench_methods.eca_unet import EcaUNetMethod
from regbench_methods.vxm import Vxm1

from regbench.plugin import options

ROOT = Path(__file__).resolve().parents[1]
# What a plugin may import: exactly the modules the README tells plugin authors about.
PUBLIC = {"regbench", "regbench.data", "regbench.learning", "regbench.measuring", "regbench.testing"}
# The host's layers, bottom first: each package may import only those listed for it
# (docs/architecture.md draws this). `regbench` is the package face, re-exporting the
# contract; `testing` is the conformance kit, at the top beside the command line.
LAYERS = {
    "common": set(),
    "measuring": {"common"},
    "plugin": {"common", "measuring"},
    "data": {"common", "measuring", "plugin"},
    "learning": {"common", "measuring", "plugin", "data"},  # data: images synthesised to train on
    "outputs": {"common", "measuring", "plugin"},
    "execution": {"common", "measuring", "plugin", "data", "learning", "outputs"},
    "cli": {"common", "measuring", "plugin", "data", "learning", "outputs", "execution"},
    "testing": {"common", "measuring", "plugin", "data", "learning", "outputs", "execution"},
    "regbench": {"plugin"},
}
PLUGIN_PACKAGES = {"regbench_methods", "regbench_keras", "regbench_metrics", "regbench_datasets"}


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
    """Every module ``path`` imports, at its top, in functions or for type checking, as
    the dotted names written (``from a import b`` gives ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _host_modules() -> dict[str, Path]:
    """regbench's own modules by dotted name."""
    modules = {}
    for path in (ROOT / "regbench").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _import_graph() -> dict[str, set[str]]:
    """Which of regbench's modules each one imports, at its top, in functions or for type
    checking (``from regbench.cli import config`` imports the module
    ``regbench.cli.config``; ``from regbench.plugin import hookimpl`` the package)."""
    modules = _host_modules()
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in modules:
                imported.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                                else node.module for alias in node.names)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name in modules)
        graph[name] = imported - {name}
    return graph


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else "regbench"


def test_the_host_imports_no_circle():
    try:
        order = list(TopologicalSorter(_import_graph()).static_order())
    except CycleError as error:
        pytest.fail(f"regbench's modules import each other in a circle: {' -> '.join(error.args[1])}")
    assert "regbench.plugin.method" in order


def test_each_package_imports_only_the_layers_below_it():
    arrows = sorted(f"{module} -> {imported}" for module, imported_set in _import_graph().items()
                    for imported in imported_set
                    if _layer(imported) != _layer(module) and _layer(imported) not in LAYERS[_layer(module)])
    assert not arrows, "imports against the layers (see LAYERS and docs/architecture.md):\n" + "\n".join(arrows)


def test_the_host_imports_no_plugin():
    found = {f"{module}: {name}" for module, path in _host_modules().items() for name in _imports(path)
             if name.split(".")[0] in PLUGIN_PACKAGES}
    assert not found, f"the host must reach plugins through the registry, not by import: {sorted(found)}"


def test_the_layer_contract_covers_every_package():
    assert {_layer(module) for module in _host_modules()} == set(LAYERS)


def _readme_names() -> set[str]:
    """Every dotted ``regbench.`` name the README's text and code show a user."""
    return set(re.findall(r"\bregbench(?:\.[A-Za-z_][A-Za-z_0-9]*)+", (ROOT / "README.md").read_text()))


def test_the_public_api_is_exactly_what_the_readme_names():
    modules_named = set()
    for name in _readme_names():
        module, _, attribute = name.rpartition(".")
        if name in PUBLIC:
            modules_named.add(name)
        else:
            assert module in PUBLIC, f"the README names {name}, outside the public modules {sorted(PUBLIC)}"
            assert hasattr(importlib.import_module(module), attribute), f"the README names {name}, which is not there"
            modules_named.add(module)
    assert modules_named == PUBLIC, f"public but never named in the README: {sorted(PUBLIC - modules_named)}"


@pytest.mark.parametrize("path", sorted([*ROOT.glob("plugins/*/*.py"), *ROOT.glob("datasets/*/*.py"),
                                         *ROOT.glob("examples/*/src/*/*.py"), *ROOT.glob("examples/*/tests/*.py")]),
                         ids=lambda path: str(path.relative_to(ROOT)))
def test_in_repo_plugins_import_only_the_public_api(path):
    internal = {name for name in _imports(path) if name.split(".")[0] == "regbench"
                and name not in PUBLIC and name.rpartition(".")[0] not in PUBLIC}
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
