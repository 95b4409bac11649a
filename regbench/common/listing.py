"""A long list of names said in one line of an error or a warning."""

from __future__ import annotations

from collections.abc import Sequence

SHOWN = 3  # names a line lists before it counts the rest


def some(names: Sequence[str], shown: int = SHOWN) -> str:
    """``a, b, c and 4 more``: the first ``shown`` names, and how many are left."""
    listed = ", ".join(names[:shown])
    return f"{listed} and {len(names) - shown} more" if len(names) > shown else listed
