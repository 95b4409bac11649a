"""The plugin manager: finds plugins and collects what they register.

Plugins come from three places, in this order:
1. the entry-point group ``regbench`` (the built-in methods and datasets live there,
   registered by regbench's own pyproject.toml exactly as an outside package would);
2. module names in the ``REGBENCH_PLUGINS`` variable (comma-separated);
3. module names given with ``regbench -p MODULE``.
``-p no:NAME`` blocks the plugin registered under NAME (an entry-point name).

An installed plugin that fails to import, or raises while registering, is reported
(``Catalog.problems``, shown by ``regbench list`` and before a run) and skipped: the
other plugins' methods still run. Two exceptions stop everything instead, because
skipping would hide a mistake in the command or make a result mean something else:
a ``-p`` (or ``REGBENCH_PLUGINS``) module that cannot be imported
(:class:`PluginNotFound`), and two plugins registering one name
(:class:`~regbench.plugin.registry.PluginConflict`, naming both).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pluggy

from regbench.plugin import hookspecs
from regbench.plugin.catalog import Catalog
from regbench.plugin.dataset import Dataset
from regbench.plugin.method import Method
from regbench.plugin.metric import Metric
from regbench.plugin.registry import PluginConflict, Registry

# What importing a plugin may raise without ending regbench: anything but a
# KeyboardInterrupt (a SystemExit too: a module calling sys.exit() is a broken plugin).
_IMPORT_FAILURES = (Exception, SystemExit)


class PluginImportError(Exception):
    """An installed plugin could not be imported."""


class PluginNotFound(ImportError):
    """A module named with ``-p`` (or ``REGBENCH_PLUGINS``) cannot be imported."""


def _failed_to_import(plugin: str, error: BaseException) -> str:
    """One line saying that ``plugin`` raised ``error`` while it was imported."""
    return " ".join(f"{plugin} failed to import: {type(error).__name__}: {error}".split())


class _BrokenPlugin:
    """Stands in for an installed plugin that failed to import, so that ``collect``
    reports it with the others' problems."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.message = _failed_to_import(f"plugin {name!r}", error)

    @hookspecs.hookimpl
    def regbench_register_methods(self, register: Registry[Method]) -> None:
        raise PluginImportError(self.message)


def _load_entry_points(manager: pluggy.PluginManager) -> None:
    """pluggy's entry-point loading, one plugin at a time, so one that fails to import
    does not stop the rest."""
    names = sorted({point.name for point in importlib.metadata.entry_points(group=hookspecs.PROJECT)})
    for name in names:
        try:
            manager.load_setuptools_entrypoints(hookspecs.PROJECT, name=name)
        except _IMPORT_FAILURES as error:
            if not manager.has_plugin(name):
                manager.register(_BrokenPlugin(name, error), name=name)


def _import_requested(name: str) -> ModuleType:
    """The module named with ``-p`` or ``REGBENCH_PLUGINS``; whatever it raises while
    imported is a :class:`PluginNotFound` of one line: the user named it, so it is the
    command that is wrong, not a plugin to skip."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise PluginNotFound(f"plugin module {name!r} could not be imported ({error}); "
                             f"check its name and that its folder is on PYTHONPATH") from None
    except _IMPORT_FAILURES as error:
        raise PluginNotFound(_failed_to_import(f"plugin module {name!r}", error)) from None


def plugin_manager(plugins: Sequence[str] = ()) -> pluggy.PluginManager:
    """A manager with regbench's hook specs and every plugin found (see module doc)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    from_env = [name.strip() for name in os.environ.get("REGBENCH_PLUGINS", "").split(",") if name.strip()]
    requested = [*from_env, *plugins]
    for name in requested:
        if name.startswith("no:"):
            manager.set_blocked(name[3:])
    _load_entry_points(manager)
    for name in requested:
        if name.startswith("no:") or manager.is_blocked(name) or manager.has_plugin(name):
            continue
        module = _import_requested(name)
        if not manager.is_registered(module):  # e.g. a built-in plugin named again with -p
            manager.register(module, name=name)
    return manager


def _sources(manager: pluggy.PluginManager) -> dict[str, str]:
    """Who each plugin is, as a name clash names it: the distribution that installed an
    entry-point plugin (``regbench`` for the built-ins); others are named by module."""
    return {manager.get_name(plugin): f"distribution {dist.project_name!r}"
            for plugin, dist in manager.list_plugin_distinfo()}


def _register_each(hook: Any, registry: Registry[Any], sources: dict[str, str], problems: list[str]) -> None:
    """Call one hook plugin by plugin (not through pluggy's single call, which stops at
    the first exception), noting each plugin that raises; a name clash is no plugin's
    own failure to skip, and propagates."""
    for implementation in reversed(hook.get_hookimpls()):  # pluggy's order: last registered first
        name = implementation.plugin_name
        try:
            implementation.function(register=registry.by(sources.get(name, f"module {name!r}")))
        except PluginConflict:
            raise
        except PluginImportError as error:
            problems.append(str(error))
        except Exception as error:
            problems.append(f"plugin {implementation.plugin_name!r} failed to register its {registry.kind}s: "
                            f"{type(error).__name__}: {error}")


def collect(manager: pluggy.PluginManager) -> Catalog:
    """Ask every plugin to register its methods, datasets and metrics."""
    methods: Registry[Method] = Registry("method")
    datasets: Registry[Dataset] = Registry("dataset")
    metrics: Registry[Metric] = Registry("metric")
    problems: list[str] = []
    sources = _sources(manager)
    _register_each(manager.hook.regbench_register_methods, methods, sources, problems)
    _register_each(manager.hook.regbench_register_datasets, datasets, sources, problems)
    _register_each(manager.hook.regbench_register_metrics, metrics, sources, problems)
    return Catalog(methods=methods, datasets=datasets, metrics=metrics, problems=tuple(problems))
