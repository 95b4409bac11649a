"""The ``register`` objects handed to plugins, and what they collect.

A registry maps a name to an :class:`Entry`: the class to instantiate, or, when a
module the class needs is not importable, the reason it is not installed and how to
install it. Nothing of a plugin's optional dependencies is imported here:
availability is decided with ``importlib.util.find_spec``, so listing plugins stays
fast and never crashes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered method, dataset or metric."""

    name: str
    description: str
    cls: type[T]
    requires: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    install: str = ""  # the command that installs what is missing

    @property
    def installed(self) -> bool:
        return not self.missing

    @property
    def status(self) -> str:
        """``installed``, or ``not installed (pip install ...)``."""
        if self.installed:
            return "installed"
        return f"not installed ({self.install})"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name (itk.ElastixPython) whose parent package is missing
        return False


def _missing_modules(requires: Iterable[str]) -> tuple[str, ...]:
    return tuple(module for module in requires if not _installed(module))


class Registry(Generic[T]):
    """Collects entries of one kind; a plugin sees it as a ``register(...)`` callable."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def __call__(self, cls: type[T], *, requires: Iterable[str] = (), install: str | None = None) -> None:
        """Register ``cls`` under ``cls.name``.

        ``requires``: modules that must be importable for ``cls`` to work.
        ``install``: the command that installs them, shown while one is missing (e.g.
        ``"pip install 'my-plugin[gpu]'"``); without one, ``pip install`` of the missing modules.
        """
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} {cls!r} needs a non-empty string attribute 'name'")
        if name in self._entries:
            other = self._entries[name].cls
            raise ValueError(
                f"{self.kind} name {name!r} is registered twice: by {other.__module__} "
                f"and by {cls.__module__}"
            )
        requires = tuple(requires)
        missing = _missing_modules(requires)
        self._entries[name] = Entry(
            name=name,
            description=getattr(cls, "description", ""),
            cls=cls,
            requires=requires,
            missing=missing,
            install=install or "pip install " + " ".join(missing),
        )

    def __getitem__(self, name: str) -> Entry[T]:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[name] for name in self.names()]
