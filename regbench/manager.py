"""The plugin manager: finds plugins and collects what they register.

Plugins come from three places, in this order:
1. the entry-point group ``regbench`` (the built-in methods and datasets live there,
   registered by regbench's own pyproject.toml exactly as an outside package would);
2. module names in the ``REGBENCH_PLUGINS`` variable (comma-separated);
3. module names given with ``regbench -p MODULE``.
``-p no:NAME`` blocks the plugin registered under NAME (an entry-point name).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import pluggy

from regbench import hookspecs
from regbench.dataset import Dataset
from regbench.method import Method
from regbench.metric import Metric
from regbench.registry import Registry


@dataclass(frozen=True)
class Catalog:
    """Everything the installed plugins registered."""

    methods: Registry[Method]
    datasets: Registry[Dataset]
    metrics: Registry[Metric]


def plugin_manager(plugins: Sequence[str] = ()) -> pluggy.PluginManager:
    """A manager with regbench's hook specs and every plugin found (see module doc)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    from_env = [name.strip() for name in os.environ.get("REGBENCH_PLUGINS", "").split(",") if name.strip()]
    requested = [*from_env, *plugins]
    for name in requested:
        if name.startswith("no:"):
            manager.set_blocked(name[3:])
    manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    for name in requested:
        if name.startswith("no:") or manager.is_blocked(name) or manager.has_plugin(name):
            continue
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise ImportError(f"regbench plugin module {name!r} could not be imported: {error}") from error
        manager.register(module, name=name)
    return manager


def collect(manager: pluggy.PluginManager) -> Catalog:
    """Ask every plugin to register its methods, datasets and metrics."""
    methods: Registry[Method] = Registry("method")
    datasets: Registry[Dataset] = Registry("dataset")
    metrics: Registry[Metric] = Registry("metric")
    manager.hook.regbench_register_methods(register=methods)
    manager.hook.regbench_register_datasets(register=datasets)
    manager.hook.regbench_register_metrics(register=metrics)
    return Catalog(methods=methods, datasets=datasets, metrics=metrics)
