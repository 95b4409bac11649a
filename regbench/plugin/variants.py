"""Method variants: a method named with some of its parameters, a method of its own in a run.

``eca-unet[dense=false]`` is the ECA U-Net without its dense skips: it gets its own
rows, column, result key, cached weights and name in every table and figure, so an
ablation stands beside the full network in one table. A parameter given several values
is a grid, expanded as benchopt does: ``eca-unet[dense=true,false]`` is two variants,
``eca-unet[dense=true]`` and ``eca-unet[dense=false]``; several parameters give every
combination. Inside the brackets a bare item (no ``=``) is one more value of the
parameter before it, except for a parameter whose default is a tuple, where the items
together are the one tuple value (``my-method[widths=16,32,32]``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regbench.plugin import options


@dataclass(frozen=True)
class Variant:
    """One method with some parameters set (text, as given), in the order given."""

    method: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        """``method`` alone, or ``method[key=value,...]``: its name in every table."""
        if not self.params:
            return self.method
        return f"{self.method}[{','.join(f'{key}={value}' for key, value in self.params)}]"

    @property
    def given(self) -> dict[str, str]:
        return dict(self.params)


def split_specs(text: str) -> list[str]:
    """``--methods`` text cut at the commas outside brackets:
    ``"vxm1,eca-unet[dense=true,false]"`` → ``["vxm1", "eca-unet[dense=true,false]"]``."""
    specs, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in methods {text!r}")
        elif char == "," and depth == 0:
            specs.append(text[start:index])
            start = index + 1
    if depth:
        raise ValueError(f"unbalanced '[' in methods {text!r}")
    specs.append(text[start:])
    return [spec.strip() for spec in specs if spec.strip()]


# vxm1@synthetic: vxm1 trained on dataset synthetic, evaluated on another (--train-dataset).
TRAINED_ON = "@"


def method_name(spec: str) -> str:
    """The registered name a spec, or a name in tables, starts with (``eca-unet`` for
    ``eca-unet[dense=false]`` and for ``eca-unet@synthetic``)."""
    return spec.partition("[")[0].partition(TRAINED_ON)[0].strip()


def trained_on_label(name: str, dataset: str) -> str:
    """The name in tables of method (or variant) ``name`` trained on ``dataset``, where it
    is not evaluated: ``vxm1@synthetic``."""
    return f"{name}{TRAINED_ON}{dataset}"


def _grid(spec: str, defaults: Mapping[str, Any]) -> dict[str, list[str]]:
    """The values of each parameter in ``spec``'s brackets (text), in the order given."""
    inside = spec.partition("[")[2]
    if not inside.endswith("]") or "[" in inside or "]" in inside[:-1]:
        raise ValueError(f"method {spec!r}: expected NAME[KEY=VALUE,...]")
    grid: dict[str, list[str]] = {}
    key = None
    for item in (part.strip() for part in inside[:-1].split(",")):
        name, sep, value = item.partition("=")
        if sep:
            key = name.strip()
            if not key or key in grid:
                raise ValueError(f"method {spec!r}: {'a parameter needs a name' if not key else f'{key} given twice'}")
            grid[key] = [value.strip()]
        elif key is None or not item:
            raise ValueError(f"method {spec!r}: expected KEY=VALUE, got {item!r}")
        elif isinstance(defaults.get(key), tuple):
            grid[key][-1] += f",{item}"  # one tuple value, not a grid
        else:
            grid[key].append(item)
    return grid


def _canonical(what: str, defaults: Mapping[str, Any], key: str, text: str) -> str:
    """``text`` as the parameter's type prints it (``False`` → ``false``), for names that
    do not depend on how a value was spelt."""
    value = options.resolve(what, defaults, {key: text})[key]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def expand(spec: str, defaults: Mapping[str, Any]) -> list[Variant]:
    """The variants ``spec`` names, grids expanded (every combination, in order), for a
    method with ``defaults``; an unknown parameter or a value of the wrong type is a
    ValueError naming the spec."""
    name = method_name(spec)
    if "[" not in spec:
        return [Variant(name)]
    grid = _grid(spec, defaults)
    what = f"method {spec!r}"
    values = [[_canonical(what, defaults, key, text) for text in texts] for key, texts in grid.items()]
    return [Variant(name, tuple(zip(grid, combination, strict=True))) for combination in itertools.product(*values)]
