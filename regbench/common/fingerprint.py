"""Short, stable hashes of what decides a result: settings, source code and data files.

Trained weights and stored results are kept under such hashes, so changing a
method's parameters, the dataset, the seed, the code that computes them or a data
file they read makes regbench compute them again, and changing nothing reuses them.

Data files are keyed by their content (:class:`FileDigests`): a file replaced in
place under the same name changes the key, a file merely copied or touched does not.

The code that decides a result is derived, never listed by hand: :func:`code_version`
hashes the given modules together with every module of their packages, of regbench,
or not installed at all (a plugin's helper module beside it) that they import, directly
or through others (found by reading the source, not by importing it).
A helper module added next year is keyed the day it is imported.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import re
import site
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from regbench.common.atomic import atomic_write_text

_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def _spec(name: str) -> Any:
    """Module ``name``'s spec, or None. Finding ``a.b.c`` imports the packages ``a`` and
    ``a.b``, never a module: a name inside a module (``from a.b import c``, ``c`` a
    function) is not looked up as a submodule, since that would run ``a.b`` (and, for a
    TensorFlow method, start TensorFlow)."""
    parent = name.rpartition(".")[0]
    if parent:
        parent_spec = _spec(parent)
        if parent_spec is None or parent_spec.submodule_search_locations is None:
            return None
    try:
        return sys.modules[name].__spec__ if name in sys.modules else importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None


def _spec_origin(name: str) -> Path | None:
    """The source file of module ``name``, or None when it is not a Python source
    module of its own (a name inside a module, a compiled extension, a missing module)."""
    spec = _spec(name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _named_modules(name: str, path: Path) -> set[str]:
    """The module names ``name``'s source refers to: its imports (relative ones
    resolved, each imported name tried as a submodule too) and string constants that
    look like dotted module names (lazy exports, ``code_modules`` lists)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_NAME.fullmatch(node.value):
            found.add(node.value)
    return found


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages' ``__init__``."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@functools.lru_cache(maxsize=1)
def _installed_code() -> tuple[Path, ...]:
    """Where the standard library and installed packages live: code that is keyed by
    its version (recorded with every row), not followed here."""
    paths = sysconfig.get_paths()
    folders = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths}
    folders.update(site.getsitepackages())
    return tuple(Path(folder).resolve() for folder in folders)


def _followed(name: str, packages: set[str]) -> bool:
    """Whether ``name``'s source decides results as the roots' own code: a module of
    their packages or regbench's, or of any package not installed (a flat plugin's
    helper module beside it). Decided from the top-level name's location alone, so that
    no installed package (torch, TensorFlow) is imported to find a submodule."""
    top = name.split(".")[0]
    if top in packages:
        return True
    origin = _spec_origin(top)
    if origin is None:
        return False
    return not any(origin.resolve().is_relative_to(folder) for folder in _installed_code())


@functools.lru_cache(maxsize=None)
def _closure(roots: tuple[str, ...]) -> tuple[tuple[str, Path], ...]:
    """``roots`` and every module they reach through imports that is theirs (their
    packages, regbench, or not installed: see :func:`_followed`), with their source
    files, sorted by name."""
    packages = {"regbench", *(root.split(".")[0] for root in roots)}
    seen: dict[str, Path] = {}
    queue = [part for root in roots for part in _with_parents(root)]
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        path = _spec_origin(name) if _followed(name, packages) else None
        if path is None:
            continue
        seen[name] = path
        queue.extend(part for found in _named_modules(name, path) for part in _with_parents(found))
    return tuple(sorted(seen.items()))


def code_modules(roots: Iterable[str]) -> list[str]:
    """The names of the modules :func:`code_version` hashes for ``roots``."""
    return [name for name, _ in _closure(tuple(sorted(set(roots))))]


def code_version(roots: Iterable[str]) -> str:
    """Hash of the source of ``roots`` and of every module they import from their own
    packages or regbench's (module doc). A root without a source file is a ValueError."""
    roots = tuple(sorted(set(roots)))
    closure = dict(_closure(roots))
    missing = [root for root in roots if root not in closure]
    if missing:
        raise ValueError(f"no source file found for module {missing[0]!r}")
    material = hashlib.sha256()
    for name, path in sorted(closure.items()):
        material.update(f"{name}\0".encode())
        material.update(_source(path))
    return material.hexdigest()[:16]


def _source(path: Path) -> bytes:
    """The bytes hashed for one source file (a seam for tests that edit code)."""
    return path.read_bytes()


def digest(material: Any) -> str:
    """Hash of JSON-able ``material`` (keys sorted, so order does not matter)."""
    text = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class FileDigests:
    """SHA-256 of data files' content, remembered in ``folder`` (one small JSON file per
    data file) with the size, modification and change times and inode it had: while
    those are unchanged the file is not read again; when any changed, its content is
    hashed anew and the new digest recorded. ``folder`` None remembers nothing (every
    call reads the file)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder

    def __call__(self, path: Path) -> str:
        path = Path(path).resolve()
        info = path.stat()
        stamp = {"path": str(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
                 "ctime_ns": info.st_ctime_ns, "inode": info.st_ino}
        memo = self.folder / f"{digest(str(path))}.json" if self.folder is not None else None
        known = _read_memo(memo)
        if known is not None and all(known.get(name) == value for name, value in stamp.items()):
            return str(known["sha256"])
        content = hashlib.sha256()
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                content.update(chunk)
        value = content.hexdigest()
        if memo is not None:
            try:
                memo.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(memo, json.dumps({**stamp, "sha256": value}))
            except OSError:  # a read-only cache only costs the next run a re-read
                pass
        return value


def _read_memo(memo: Path | None) -> dict[str, Any] | None:
    """A remembered digest, or None when there is none or it cannot be read (then the
    file is hashed again: a damaged memo costs time, never a wrong key)."""
    if memo is None or not memo.is_file():
        return None
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return known if isinstance(known, dict) and isinstance(known.get("sha256"), str) else None
