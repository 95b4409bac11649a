"""Files that are either complete or absent, even if the process is killed mid-write."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

PARTIAL_FOLDER = ".partial"  # beside the final file: a rename within one file system


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(partial_path)``, then rename the partial file onto ``path``.

    A rename within one folder is atomic on POSIX file systems, so a reader (or a run
    resumed after ``kill -9``) sees the old file or the new one, never half of one.
    """
    partial = path.parent / PARTIAL_FOLDER / f"{os.getpid()}-{path.name}"  # same extension, for writers that need it
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # still in use by another writer
            partial.parent.rmdir()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda partial: partial.write_text(text, encoding="utf-8"))
