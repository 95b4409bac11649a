"""What a dataset plugin says when a file or folder is missing or not what regbench
expects: one error type, naming the file."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A dataset file or folder is missing or not what regbench expects."""


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{what}: folder {path} does not exist")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{what}: file {path} does not exist")
    return path
