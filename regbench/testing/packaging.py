"""Where a plugin's entry point is, as installed: regbench finds plugins only through
the entry-point group ``regbench``, so a method declared under another group (or not
installed at all) is missing from ``regbench list`` without an error. The conformance
kit says which it is, by reading the installed distributions' metadata."""

from __future__ import annotations

import importlib.metadata

from regbench.plugin import hookspecs

_SCRIPTS = ("console_scripts", "gui_scripts")  # a package's commands, never its plugins


def _declared(modules: tuple[str, ...]) -> list[tuple[str, importlib.metadata.EntryPoint]]:
    """Every installed entry point, in any group but the scripts', that names one of
    ``modules``, with its distribution's name."""
    return [(dist.metadata["Name"], point) for dist in importlib.metadata.distributions()
            for point in dist.entry_points if point.module in modules and point.group not in _SCRIPTS]


def plugin_modules(method_module: str) -> tuple[str, ...]:
    """The modules an entry point may name to register a method defined in
    ``method_module``: that module and every package above it."""
    parts = method_module.split(".")
    return tuple(".".join(parts[:end]) for end in range(len(parts), 0, -1))


def entry_point_problem(method_name: str, modules: tuple[str, ...]) -> str | None:
    """What keeps regbench from finding a plugin in ``modules`` (the first is the one to
    declare) through its entry-point group, or None when an installed distribution
    declares one of them there."""
    declared = _declared(modules)
    group = hookspecs.PROJECT
    if any(point.group == group for _, point in declared):
        return None
    if declared:
        dist, point = declared[0]
        return (f"the entry point {point.name} = {point.value!r} of distribution {dist!r} is in the group "
                f"{point.group!r}, but regbench reads the group {group!r}: declare it in pyproject.toml under "
                f"[project.entry-points.{group}] and reinstall the package")
    return (f"no installed distribution declares an entry point for {modules[0]!r} (or a package above it) in the "
            f"group {group!r}: add to pyproject.toml, naming the module whose hook registers the method,\n"
            f"    [project.entry-points.{group}]\n    {method_name} = \"{modules[0]}\"\nand install the package "
            f"(pip install -e .); set plugin = 'module' in the test class when another module registers it")
