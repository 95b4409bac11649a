"""Short, stable hashes of what decides a result: settings and source code.

Trained weights and stored results are kept under such hashes, so changing a
method's parameters, the dataset, the seed or the code that computes them makes
regbench compute them again, and changing nothing reuses them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def code_version(modules: Iterable[str]) -> str:
    """Hash of the source files of ``modules`` (found, not imported: hashing the code of
    a TensorFlow method does not start TensorFlow)."""
    digest = hashlib.sha256()
    for name in modules:
        spec = sys.modules[name].__spec__ if name in sys.modules else importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"no source file found for module {name!r}")
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:16]


def digest(material: Any) -> str:
    """Hash of JSON-able ``material`` (keys sorted, so order does not matter)."""
    text = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
