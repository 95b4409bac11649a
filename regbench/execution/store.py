"""Results kept as they are produced, so an interrupted run resumes where it stopped.

Every evaluated (method, pair) becomes one small JSON file (plus an ``.npz`` of arrays
for a pair that succeeded: its preview for the pair viewer, and the full-resolution
arrays of the report's figure pair), written atomically: after
``kill -9`` a file is complete or absent. Files live under
``<store>/<method>-<result key>/``, where the result key hashes everything that
decides the numbers (see :func:`regbench.common.fingerprint.digest`): change a method's
parameters, the dataset, the seed, the metrics or the code, and that method's
results are computed again; change nothing and they are read back.

Failed pairs are stored too, for the tables, but a resumed run tries them again. A
record starts as its row's identity (:func:`started_record`); a pair whose worker failed
or timed out is :func:`failed_record`, both rows built by :mod:`regbench.outputs.schema`.

A stored file that cannot be what the store wrote (cut short, bytes gone bad, a record
of another pair, arrays missing, values that are not a row's) is set aside, renamed
``NAME.damaged-N`` beside it and kept for a post-mortem, with one line on stderr; its
pair is computed again (a damaged ``method.json`` reads as absent).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from regbench.common.arrays import load_npz
from regbench.common.atomic import PARTIAL_PREFIX, atomic_write, atomic_write_text
from regbench.outputs import schema

if TYPE_CHECKING:
    from regbench.execution.plan import MethodJob
    from regbench.plugin.dataset import Pair

INFO_FILE = "method.json"
RECORD_KEYS = {"row", "labels", "arrays", "inputs"}


@dataclass
class PairRecord:
    """One method × pair: its results row, its per-label rows, its arrays (a successful
    pair's preview for the pair viewer, under ``preview/``, and, for the report's figure
    pair only, its qualitative figure's arrays: :mod:`regbench.outputs.nifti`), and
    ``inputs``, the digest of the data files it read
    (:meth:`regbench.execution.inputs.DataFingerprint.pair`): a stored record is reused
    only while they are unchanged."""

    row: dict[str, Any]
    labels: list[dict[str, Any]] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: str = ""

    @property
    def ok(self) -> bool:
        return self.row.get("status") == "ok"


def started_record(job: MethodJob, pair: Pair) -> PairRecord:
    """The record ``job`` starts for ``pair``: its row's identity (:func:`schema.pair_row`),
    failed until the pair succeeds."""
    return PairRecord(row=schema.pair_row(job.name, job.dataset.name, pair.id, pair.fixed_id, pair.moving_id, job.seed))


def failed_record(job: MethodJob, pair: Pair, reason: str) -> PairRecord:
    """The record of a pair that could not be evaluated (its worker failed or timed out)."""
    environment = schema.environment_columns(job.requires, job.threads)
    return PairRecord(row=schema.failed_row(started_record(job, pair).row, reason, **environment))


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


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _number(value: object) -> bool:
    return value is None or isinstance(value, (int, float))


def _check_columns(columns: object, what: str) -> dict[str, Any]:
    """``columns`` when they are what a row holds: names with single values, numbers
    where :data:`schema.NUMERIC` says; else a ValueError naming ``what``."""
    if not isinstance(columns, dict) or not all(_scalar(value) for value in columns.values()):
        raise ValueError(f"its {what} is not a table row")
    wrong = [name for name in schema.NUMERIC if name in columns and not _number(columns[name])]
    if wrong:
        raise ValueError(f"its {what} holds {columns[wrong[0]]!r} as {wrong[0]}, which is a number")
    return columns


def _read_json(path: Path) -> dict[str, Any]:
    stored = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(stored, dict):
        raise ValueError(f"it holds a JSON {type(stored).__name__}, not an object")
    return stored


def _read_record(path: Path) -> PairRecord:
    """The record stored at ``path``, checked; OSError or ValueError when it is not one."""
    stored = _read_json(path)
    if stored.keys() != RECORD_KEYS:
        raise ValueError(f"it holds {', '.join(sorted(stored))}; a stored result holds {', '.join(sorted(RECORD_KEYS))}")
    row = _check_columns(stored["row"], "row")
    if not isinstance(row.get("pair"), str) or row.get("status") not in schema.STATUSES:
        raise ValueError("its row has no pair, or no status of ok or failed")
    if path.name != f"{_file_stem(row['pair'])}.json":
        raise ValueError(f"it holds pair {row['pair']!r}, another pair than its name says")
    labels, names = stored["labels"], stored["arrays"]
    if not isinstance(labels, list):
        raise ValueError("its labels are not a list of rows")
    if not isinstance(stored["inputs"], str):
        raise ValueError("its inputs are not a digest")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValueError("its arrays are not a list of names")
    record = PairRecord(row=row, labels=[_check_columns(label, "label row") for label in labels],
                        inputs=stored["inputs"])
    if names:
        record.arrays = load_npz(path.with_suffix(".npz"))
        if sorted(record.arrays) != sorted(names):
            raise ValueError(f"its .npz holds {', '.join(sorted(record.arrays))}; the record names {', '.join(names)}")
    return record


def _read_info(path: Path) -> MethodInfo:
    """The method info stored at ``path``, checked; OSError or ValueError when it is not one."""
    stored = _read_json(path)
    if stored.keys() != {"columns", "losses", "validation"}:
        raise ValueError(f"it holds {', '.join(sorted(stored))}; method info holds columns, losses, validation")
    losses, validation = stored["losses"], stored["validation"]
    if not isinstance(losses, list) or not all(_number(loss) for loss in losses):
        raise ValueError("its losses are not a list of numbers")
    if not isinstance(validation, list) or not all(
            isinstance(scores, dict) and all(_number(value) for value in scores.values())
            and isinstance(scores.get("step"), int) for scores in validation):
        raise ValueError("its validation is not a list of scores by step")
    return MethodInfo(columns=_check_columns(stored["columns"], "columns"), losses=losses, validation=validation)


def _set_aside(paths: list[Path]) -> list[Path]:
    """Rename each of ``paths`` that exists to ``NAME.damaged-N`` beside it (N: the first
    free number), kept rather than deleted; the new paths."""
    moved = []
    for path in paths:
        if path.exists() or path.is_symlink():
            number = next(n for n in itertools.count(1) if not path.with_name(f"{path.name}.damaged-{n}").exists())
            moved.append(path.rename(path.with_name(f"{path.name}.damaged-{number}")))
    return moved


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
        text = json.dumps({"row": record.row, "labels": record.labels, "arrays": sorted(record.arrays),
                           "inputs": record.inputs}, default=_plain)
        atomic_write_text(folder / f"{stem}.json", text)

    def records(self, method: str, key: str) -> dict[str, PairRecord]:
        """Stored records of ``method`` under ``key``, by pair id; damaged ones set aside
        (see module doc)."""
        records = {}
        for path in sorted(self.folder(method, key).glob("*.json")):
            if path.name == INFO_FILE or path.name.startswith(PARTIAL_PREFIX):
                continue
            try:
                record = _read_record(path)
            except (OSError, ValueError) as error:
                moved = _set_aside([path, path.with_suffix(".npz")])
                print(f"regbench: ignoring unreadable stored result {path} ({error}); set aside as "
                      f"{' and '.join(map(str, moved))}; it is computed again", file=sys.stderr)
                continue
            records[record.row["pair"]] = record
        return records

    def save_info(self, method: str, key: str, info: MethodInfo) -> None:
        folder = self.folder(method, key)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / INFO_FILE, json.dumps(asdict(info), default=_plain))

    def info(self, method: str, key: str) -> MethodInfo | None:
        """The stored method info, or None (a damaged file set aside, see module doc)."""
        path = self.folder(method, key) / INFO_FILE
        if not path.exists():
            return None
        try:
            return _read_info(path)
        except (OSError, ValueError) as error:
            (moved,) = _set_aside([path])
            print(f"regbench: ignoring unreadable stored method info {path} ({error}); set aside as {moved}; "
                  f"it is treated as absent", file=sys.stderr)
            return None

    def count(self) -> int:
        """How many pair results are stored, of every method and key (complete files only)."""
        return sum(1 for path in self.root.glob("*/*.json")
                   if path.name != INFO_FILE and not path.name.startswith(PARTIAL_PREFIX))

    def clear(self) -> None:
        """Forget every stored result (``regbench run --fresh``)."""
        shutil.rmtree(self.root, ignore_errors=True)
