"""Named options of methods and datasets, checked and typed in one place.

A method declares ``default_params`` and a dataset ``default_options``; a value given
for one, in Python or as text from the command line (``KEY=VALUE``), is converted to
the type of its default: ``true``/``false`` for booleans, ``1,2,3`` for tuples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


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


def resolve(what: str, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``given``, each value of its default's type; an unknown
    key names ``what`` and the valid keys."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "none"
        raise ValueError(f"{what} has no option {', '.join(map(repr, unknown))}; valid: {valid}")
    return {**defaults, **{key: _convert(what, key, value, defaults[key]) for key, value in given.items()}}


def parse_assignments(what: str, assignments: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict of text (typed later, by :func:`resolve`)."""
    parsed: dict[str, str] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE for {what}, got {item!r}")
        parsed[key] = text
    return parsed
