"""The hooks a regbench plugin can implement.

A plugin is any module (or object) with functions named like the specs below and
decorated with :data:`regbench.hookimpl`. regbench finds plugins in the entry-point
group ``regbench`` (the built-in methods and datasets register that way too) and in
modules named with ``regbench -p MODULE`` or the ``REGBENCH_PLUGINS`` variable.

Each hook receives a ``register`` callable (a :class:`regbench.Registry`), in the
manner of tox 4: a plugin calls it once per thing it provides, and may declare the
modules that thing needs so that a missing optional dependency shows as "not
installed" instead of breaking the run. Type it in your hook as the specs below do::

    @regbench.hookimpl
    def regbench_register_methods(register: regbench.Registry[regbench.Method]) -> None:
        register(MyMethod, requires=("cupy",), install="pip install 'my-plugin[gpu]'")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from regbench.plugin.dataset import Dataset
    from regbench.plugin.method import Method
    from regbench.plugin.metric import Metric
    from regbench.plugin.registry import Registry

PROJECT = "regbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def regbench_register_methods(register: Registry[Method]) -> None:
    """Register registration methods.

    Call ``register(MethodClass, requires=("module",), install="pip install ...")`` for
    every :class:`regbench.Method` subclass the plugin provides. ``requires`` lists the
    importable modules the method needs; when one is missing, the method is listed as
    "not installed", with the ``install`` command (by default ``pip install`` of the
    missing modules), and skipped by ``--methods all``. ``unavailable="<what, and how to
    get it>"`` marks a method that lacks something else where it is registered (pretrained
    weights the user downloads): listed as "not installed: <that>", skipped by ``all``.
    """


@hookspec
def regbench_register_datasets(register: Registry[Dataset]) -> None:
    """Register datasets.

    Call ``register(DatasetClass, requires=(...), install=...)`` for every
    :class:`regbench.Dataset` subclass the plugin provides.
    """


@hookspec
def regbench_register_metrics(register: Registry[Metric]) -> None:
    """Register metrics.

    Call ``register(MetricClass, requires=(...), install=...)`` for every
    :class:`regbench.Metric` subclass the plugin provides. Every installed metric
    scores every pair unless ``regbench run --metrics`` selects some.
    """
