"""Named options of methods and datasets: validation and parsing from the command line.

A method declares ``default_params`` and a dataset ``default_options``; both are
checked here the same way, and ``KEY=VALUE`` strings from the CLI are converted to
the type of the declared default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def resolve(what: str, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``given``; an unknown key names ``what`` and the valid keys."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults)) or "none"
        raise ValueError(f"{what} has no option(s) {', '.join(unknown)}; valid: {valid}")
    return {**defaults, **given}


def _convert(key: str, text: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"option {key} expects true or false, got {text!r}")
        return lowered in ("true", "1", "yes")
    if isinstance(default, tuple):
        kind = type(default[0]) if default else str
        return tuple(kind(part) for part in text.split(","))
    if default is None or isinstance(default, str):
        return text
    try:
        return type(default)(text)
    except ValueError:
        raise ValueError(f"option {key} expects a {type(default).__name__}, got {text!r}") from None


def parse_assignments(what: str, assignments: Iterable[str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings against ``defaults`` (types follow the defaults)."""
    parsed: dict[str, Any] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"expected KEY=VALUE for {what}, got {item!r}")
        if key not in defaults:
            valid = ", ".join(sorted(defaults)) or "none"
            raise ValueError(f"{what} has no option {key!r}; valid: {valid}")
        parsed[key] = _convert(key, text, defaults[key])
    return parsed
