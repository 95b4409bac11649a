"""Files that are either complete or absent, even if the process is killed mid-write."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

PARTIAL_PREFIX = ".partial-"  # readers skip these: a write in progress, or cut short by a kill


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(partial_path)``, then rename the partial file onto ``path``.

    The partial file sits beside ``path`` (a rename within one folder is atomic on
    POSIX file systems) with the same extension (for writers that choose the format
    from it), named per process and thread; so a reader, or a run resumed after
    ``kill -9``, sees the old file or the new one, never half of one.
    """
    partial = path.with_name(f"{PARTIAL_PREFIX}{os.getpid()}-{threading.get_ident()}-{path.name}")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda partial: partial.write_text(text, encoding="utf-8"))
