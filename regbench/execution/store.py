"""Results kept as they are produced, so an interrupted run resumes where it stopped.

Every evaluated (method, pair) becomes one small JSON file (plus an ``.npz`` of
arrays when the pair is the report's figure pair), written atomically: after
``kill -9`` a file is complete or absent. Files live under
``<store>/<method>-<result key>/``, where the result key hashes everything that
decides the numbers (see :func:`regbench.common.fingerprint.digest`): change a method's
parameters, the dataset, the seed, the metrics or the code, and that method's
results are computed again; change nothing and they are read back.

Failed pairs are stored too, for the tables, but a resumed run tries them again.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from regbench.common.atomic import PARTIAL_PREFIX, atomic_write, atomic_write_text

INFO_FILE = "method.json"


@dataclass
class PairRecord:
    """One method × pair: its results row, its per-label rows, and the arrays kept
    for the report's qualitative figure (only for that pair)."""

    row: dict[str, Any]
    labels: list[dict[str, Any]] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.row.get("status") == "ok"


@dataclass
class MethodInfo:
    """What preparing a method produced: the columns it adds to every row (device,
    parameters, training time...), its training loss per step and its validation scores."""

    columns: dict[str, Any]
    losses: list[float] = field(default_factory=list)
    validation: list[dict[str, float]] = field(default_factory=list)

    @property
    def trained(self) -> bool:
        """Whether preparing trained the method (rather than loading cached weights)."""
        return self.columns.get("train_cached") is False


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a result")


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with path.open("wb") as file:  # an open file: np.savez would add ".npz" to a bare path
        np.savez_compressed(file, **arrays)


def _file_stem(name: str) -> str:
    """A readable file name for any id, made unique by a hash of the exact id."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class ResultStore:
    """The stored results of one output folder (see module doc)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, method: str, key: str) -> Path:
        return self.root / f"{_file_stem(method)}-{key}"

    def save(self, method: str, key: str, record: PairRecord) -> None:
        folder = self.folder(method, key)
        folder.mkdir(parents=True, exist_ok=True)
        stem = _file_stem(str(record.row["pair"]))
        if record.arrays:  # written first: a stored row implies its arrays
            atomic_write(folder / f"{stem}.npz", lambda path: _save_npz(path, record.arrays))
        text = json.dumps({"row": record.row, "labels": record.labels, "arrays": bool(record.arrays)},
                          default=_plain)
        atomic_write_text(folder / f"{stem}.json", text)

    def records(self, method: str, key: str) -> dict[str, PairRecord]:
        """Stored records of ``method`` under ``key``, by pair id."""
        records = {}
        for path in sorted(self.folder(method, key).glob("*.json")):
            if path.name == INFO_FILE or path.name.startswith(PARTIAL_PREFIX):
                continue
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                record = PairRecord(row=stored["row"], labels=stored["labels"])
                if stored["arrays"]:
                    with np.load(path.with_suffix(".npz")) as arrays:
                        record.arrays = dict(arrays)
            except (OSError, ValueError, KeyError, TypeError) as error:
                print(f"regbench: ignoring unreadable stored result {path} ({error}); it is computed again",
                      file=sys.stderr)
                continue
            records[str(record.row["pair"])] = record
        return records

    def save_info(self, method: str, key: str, info: MethodInfo) -> None:
        folder = self.folder(method, key)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / INFO_FILE, json.dumps(asdict(info), default=_plain))

    def info(self, method: str, key: str) -> MethodInfo | None:
        path = self.folder(method, key) / INFO_FILE
        if not path.is_file():
            return None
        return MethodInfo(**json.loads(path.read_text(encoding="utf-8")))

    def clear(self) -> None:
        """Forget every stored result (``regbench run --fresh``)."""
        shutil.rmtree(self.root, ignore_errors=True)
