"""Named options of methods and datasets, checked and typed in one place.

A method declares ``default_params`` and a dataset ``default_options``; a value given
for one, in Python or as text from the command line (``KEY=VALUE``), is converted to
the type of its default: ``true``/``false`` for booleans, ``1,2,3`` for tuples. Where
the type is not enough, a :class:`Range` or :class:`Choices` says which values are
valid (``param_rules`` of a method, ``option_rules`` of a dataset), so ``sigma=-1``
is a one-line error before any work rather than a silent, strange result.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """The numbers an option accepts, e.g. ``Range(at_least=1)`` (iterations),
    ``Range(above=0)`` (a sigma), ``Range(above=0, below=1)`` (a fraction). A tuple
    option's range applies to each of its numbers."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return False
        return ((self.at_least is None or value >= self.at_least) and (self.above is None or value > self.above)
                and (self.at_most is None or value <= self.at_most) and (self.below is None or value < self.below))

    def __str__(self) -> str:
        bounds = (("at least", self.at_least), ("greater than", self.above), ("at most", self.at_most),
                  ("less than", self.below))
        return " and ".join(f"{words} {bound:g}" for words, bound in bounds if bound is not None)


@dataclass(frozen=True, init=False)
class Choices:
    """The values an option may take, e.g. ``Choices("mse", "ncc")``."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", values)

    def accepts(self, value: Any) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


Rule = Range | Choices  # what ``param_rules`` and ``option_rules`` map option names to


def check_rule(what: str, key: str, value: Any, rule: Rule) -> None:
    """A one-line ValueError naming ``what`` and ``key`` when ``value`` (each item of a
    tuple, which must hold at least one) breaks ``rule``."""
    items = value if isinstance(value, tuple) else (value,)
    if not items or not all(rule.accepts(item) for item in items):
        raise ValueError(f"{what}: {key} must be {rule}{' (each value)' if isinstance(value, tuple) else ''}, "
                         f"got {value!r}")


def _convert(what: str, key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``: text is parsed, other values are checked."""
    if default is None:  # no type to follow (e.g. a folder, given as text)
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{what}: option {key} expects true or false, got {value!r}")
        return text in ("true", "1", "yes")
    if isinstance(default, tuple):
        kind = type(default[0]) if default else str
        parts = value.split(",") if isinstance(value, str) else value
        try:
            return tuple(kind(part) for part in parts)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: option {key} expects {kind.__name__}s joined by commas, got {value!r}") from None
    if isinstance(default, str):
        return str(value)
    kind = type(default)  # int or float
    article = "an" if kind is int else "a"
    try:
        converted = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: option {key} expects {article} {kind.__name__}, got {value!r}") from None
    if isinstance(value, bool) or (not isinstance(value, str) and converted != value):
        raise ValueError(f"{what}: option {key} expects {article} {kind.__name__}, got {value!r}")
    return converted


def inherited_rules(what: str, cls: type, attribute: str, defaults: Mapping[str, Any]) -> dict[str, Rule]:
    """The rules ``cls`` and its bases declare in ``attribute`` (``param_rules``,
    ``option_rules``), the nearer class's winning, for the options ``cls`` has: a subclass
    that writes its own rules keeps its bases', and one that drops an option drops its
    rule. A rule ``cls`` itself declares for an option it does not have is an error."""
    stray = sorted(set(vars(cls).get(attribute, {})) - set(defaults))
    if stray:
        raise ValueError(f"{what} declares {attribute} for {', '.join(map(repr, stray))}, which are not among its "
                         f"options")
    merged: dict[str, Rule] = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get(attribute, {}))
    return {key: rule for key, rule in merged.items() if key in defaults}


def resolve(what: str, defaults: Mapping[str, Any], given: Mapping[str, Any],
            rules: Mapping[str, Rule] | None = None) -> dict[str, Any]:
    """``defaults`` updated with ``given``, each value of its default's type and within
    its rule (``rules``: option -> :class:`Range` or :class:`Choices`); an unknown key
    names ``what`` and the valid keys."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "none"
        raise ValueError(f"{what} has no option {', '.join(map(repr, unknown))}; valid: {valid}")
    resolved = {**defaults, **{key: _convert(what, key, value, defaults[key]) for key, value in given.items()}}
    for key, rule in (rules or {}).items():
        check_rule(what, key, resolved[key], rule)
    return resolved


def parse_assignments(what: str, assignments: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict of text (typed later, by :func:`resolve`)."""
    parsed: dict[str, str] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE for {what}, got {item!r}")
        parsed[key] = text
    return parsed
