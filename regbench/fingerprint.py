"""Short, stable hashes of what decides a result: settings and source code.

Trained weights and stored results are kept under such hashes, so changing a
method's parameters, the dataset, the seed or the code that computes them makes
regbench compute them again, and changing nothing reuses them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def code_version(modules: Iterable[str]) -> str:
    """Hash of the source files of the (imported) ``modules``."""
    digest = hashlib.sha256()
    for name in modules:
        digest.update(Path(sys.modules[name].__file__).read_bytes())
    return digest.hexdigest()[:16]


def digest(material: Any) -> str:
    """Hash of JSON-able ``material`` (keys sorted, so order does not matter)."""
    text = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
