"""What the installed plugins registered, and what a command line chooses from it.

A command names what it runs as text: ``--methods`` (``all``, names, variants
``NAME[KEY=VALUE,...]`` and their grids, :mod:`regbench.plugin.variants`), ``--param
METHOD.KEY=VALUE``, ``--metrics`` and ``--dataset`` with its options. The
:class:`Catalog` answers each in one call, so that every rule about names lives here:
an unknown name lists the valid ones, one not installed says how to install it, and
``all`` skips what is not installed, saying so. A mistake is a ValueError whose
message is the one line the command prints. Parameters stay text: they are typed once,
when a job is planned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from regbench.plugin import options
from regbench.plugin.dataset import Dataset
from regbench.plugin.method import Method
from regbench.plugin.metric import Metric
from regbench.plugin.registry import Entry, Registry
from regbench.plugin.variants import TRAINED_ON, Variant, expand, method_name, split_specs

T = TypeVar("T")


@dataclass(frozen=True)
class Choice:
    """One method of a run: its entry, its variant, and its parameters as given (text):
    its method's ``--param`` values, under the variant's own."""

    entry: Entry[Method]
    variant: Variant
    given: Mapping[str, str]

    @property
    def label(self) -> str:
        """Its name in tables when it is not the method's own: a variant's."""
        return self.variant.name if self.variant.params else ""


def _entry(registry: Registry[T], name: str, parameters_may_supply: bool = False) -> Entry[T]:
    """The installed entry ``name``; with ``parameters_may_supply``, one that lacks only
    what its parameters may give (an unavailable method's weights: its own parameter
    check then says what is missing)."""
    kind = registry.kind
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(registry.names())}")
    entry = registry[name]
    if entry.missing or (entry.unavailable and not parameters_may_supply):
        raise ValueError(f"{kind} {name!r} is {entry.status}")
    return entry


def _dimensions(method: type[Method], ndim: int) -> str:
    """Why ``method`` cannot take the dataset's images."""
    takes = " and ".join(f"{n}D" for n in method.dimensions)
    return f"registers {takes} images only; this dataset's images are {ndim}D"


def _installed(registry: Registry[T], note: Callable[[str], None]) -> list[Entry[T]]:
    """``all``: every installed entry; each one not installed is noted as skipped."""
    for entry in registry.entries():
        if not entry.installed:
            note(f"skipping {registry.kind} {entry.name}: {entry.status}")
    return [entry for entry in registry.entries() if entry.installed]


def _named(kind: str, names: list[str]) -> list[str]:
    """The names an option gave; none at all is a mistake."""
    if not names:
        raise ValueError(f"--{kind}s needs 'all' or at least one {kind} name")
    return names


def _params(items: Sequence[str], known: Sequence[str]) -> dict[str, dict[str, str]]:
    """``--param METHOD.KEY=VALUE`` items as text by method, each method one of ``known``."""
    by_method: dict[str, list[str]] = {}
    for item in items:
        method, dot, rest = item.partition(".")
        if not dot:
            raise ValueError(f"--param expects METHOD.KEY=VALUE, got {item!r}")
        by_method.setdefault(method, []).append(rest)
    for method in by_method:
        if method not in known:
            raise ValueError(f"--param names method {method!r}, which is not in this run ({', '.join(known)})")
    return {method: options.parse_assignments(f"--param {method}", rest) for method, rest in by_method.items()}


@dataclass(frozen=True)
class Catalog:
    """Everything the installed plugins registered."""

    methods: Registry[Method]
    datasets: Registry[Dataset]
    metrics: Registry[Metric]
    problems: tuple[str, ...] = ()  # plugins that failed to import or to register

    def select_methods(self, spec: str, params: Sequence[str], note: Callable[[str], None],
                       ndim: int | None = None) -> list[Choice]:
        """What ``--methods`` (``spec``) names, grids expanded, each with its ``--param``
        values (``params``): a method's apply to all its variants, whose own win. ``note``
        says which methods ``all`` skips: those not installed (unless only something their
        ``--param`` values may supply is missing, such as a weights file), and those that
        cannot take the dataset's ``ndim``-dimensional images (naming one of these is an error)."""
        chosen: list[tuple[Entry[Method], Variant]] = []
        with_params = {item.partition(".")[0] for item in params}
        for item in _named("method", split_specs(spec)):
            if item == "all":
                for entry in self.methods.entries():
                    if entry.missing or (entry.unavailable and entry.name not in with_params):
                        note(f"skipping method {entry.name}: {entry.status}")
                    elif ndim is None or ndim in entry.cls.dimensions:
                        chosen.append((entry, Variant(entry.name)))
                    else:
                        note(f"skipping method {entry.name}: {_dimensions(entry.cls, ndim)}")
                continue
            if TRAINED_ON in item.partition("[")[0]:
                raise ValueError(f"--methods {item!r}: a method trained on another dataset is not named here; "
                                 f"name the method and give the dataset with --train-dataset")
            entry = _entry(self.methods, method_name(item), parameters_may_supply=True)
            if ndim is not None and ndim not in entry.cls.dimensions:
                raise ValueError(f"method {entry.name!r} {_dimensions(entry.cls, ndim)}")
            chosen += [(entry, variant) for variant in expand(item, entry.cls.default_params)]
        names = [variant.name for _, variant in chosen]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"--methods names {', '.join(twice)} more than once")
        if not chosen:
            raise ValueError("no installed method to run; see `regbench list`")
        by_method = _params(params, list(dict.fromkeys(entry.name for entry, _ in chosen)))
        return [Choice(entry, variant, {**by_method.get(entry.name, {}), **variant.given}) for entry, variant in chosen]

    def select_metrics(self, spec: str, note: Callable[[str], None]) -> list[Entry[Metric]]:
        """What ``--metrics`` (``spec``) names: ``all`` (``note`` says which it skips) or names
        joined by commas."""
        if spec == "all":
            return _installed(self.metrics, note)
        names = [name.strip() for name in spec.split(",") if name.strip()]
        return [_entry(self.metrics, name) for name in _named("metric", names)]

    def select_dataset(self, name: str, given: Sequence[str], data_dir: str | None = None) -> Dataset:
        """The dataset ``name`` with its ``--dataset-option KEY=VALUE`` items (``given``) and
        ``--data-dir``, its options typed (its files are checked by ``validate``)."""
        entry = _entry(self.datasets, name)
        settings: dict[str, Any] = options.parse_assignments(f"dataset {name!r}", given)
        if data_dir is not None:
            settings["data_dir"] = data_dir
        return entry.cls(**settings)
