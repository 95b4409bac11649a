"""The ``register`` objects handed to plugins, and what they collect.

A registry maps a name to an :class:`Entry`: the class to instantiate, or, when a
module the class needs is not importable, the reason it is not installed and how to
install it. Nothing of a plugin's optional dependencies is imported here:
availability is decided with ``importlib.util.find_spec``, so listing plugins stays
fast and never crashes.

Each entry remembers its source, the plugin that registered it (its distribution,
or its module), so that two plugins claiming one name is an error naming both: were
the later one to win, a column headed ``identity`` could hold another method's numbers.
"""

from __future__ import annotations

import copy
import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
# A name is a folder and file name (--save-warped, --export, the store) and a word of
# --methods: no path separators, commas, brackets, quotes or line breaks.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered method, dataset or metric."""

    name: str
    description: str
    cls: type[T]
    requires: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    install: str = ""  # the command that installs what is missing
    unavailable: str = ""  # what else it lacks, and how to get it (e.g. pretrained weights not found)
    source: str = ""  # who registered it: "distribution 'NAME'" or "module 'NAME'"

    @property
    def installed(self) -> bool:
        return not self.missing and not self.unavailable

    @property
    def status(self) -> str:
        """``installed``, ``not installed (pip install ...)`` or ``not installed: <what it lacks>``."""
        if self.missing:
            return f"not installed ({self.install})"
        return f"not installed: {self.unavailable}" if self.unavailable else "installed"


class PluginConflict(ValueError):
    """Two plugins (or one, twice) registered one method, dataset or metric name."""


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
        self._source: str | None = None

    def by(self, source: str) -> Registry[T]:
        """This registry as the plugin ``source`` sees it: the same entries, and what it
        registers is attributed to it (see module doc)."""
        view = copy.copy(self)  # shares the entries
        view._source = source
        return view

    def __call__(self, cls: type[T], *, requires: Iterable[str] = (), install: str | None = None,
                 unavailable: str = "") -> None:
        """Register ``cls`` under ``cls.name``.

        ``requires``: modules that must be importable for ``cls`` to work.
        ``install``: the command that installs them, shown while one is missing (e.g.
        ``"pip install 'my-plugin[gpu]'"``); without one, ``pip install`` of the missing modules.
        ``unavailable``: what else it lacks where it is registered, and how to get it (e.g.
        pretrained weights not found); ``all`` then skips it, and naming it leaves the
        method to say whether its parameters supply what is missing.
        """
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise TypeError(f"{self.kind} {cls!r} needs a string attribute 'name' of letters, digits and '_.+-', "
                            f"starting with a letter or digit (it names folders, files and command-line choices); "
                            f"got {name!r}")
        source = self._source or f"module {cls.__module__!r}"
        if name in self._entries:
            raise self._conflict(name, self._entries[name].source, source)
        requires = tuple(requires)
        missing = _missing_modules(requires)
        self._entries[name] = Entry(
            name=name,
            description=getattr(cls, "description", ""),
            cls=cls,
            requires=requires,
            missing=missing,
            install=install or "pip install " + " ".join(missing),
            unavailable=unavailable,
            source=source,
        )

    def _conflict(self, name: str, first: str, second: str) -> PluginConflict:
        """The error naming who registered ``name`` first and who again."""
        if first == second:
            return PluginConflict(f"{self.kind} {name!r} is registered twice by {first}")
        return PluginConflict(f"{self.kind} {name!r} is registered by two plugins: {first} and {second}; "
                              f"one name must mean one {self.kind}, so uninstall or leave out one of them")

    def __getitem__(self, name: str) -> Entry[T]:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[name] for name in self.names()]
