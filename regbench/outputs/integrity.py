"""Reading a results folder back only as it was written.

A table cut short by a crash, a byte gone bad on disk, a row lost or doubled, a file
swapped for another's, a CSV some other program wrote: each is a
:class:`DamagedResults` naming the file, what is wrong with it and the command that
writes it again, never a number read wrong.

``write_run`` records in ``run.json`` what it wrote (:func:`manifest`: each table's
columns, its rows per method and seed and its SHA-256, the snapshot's arrays), and
:class:`FolderCheck` holds every file to that record and to what any file of its kind
holds (:class:`TableShape`). A folder written before run.json held that record (or
before run.json existed) gets the checks that need none.

A table is read from its Parquet twin (:mod:`regbench.outputs.parquet`) when run.json
records one and the CSV is still the file written with it (:meth:`FolderCheck.source`).
A Parquet file must have the digest recorded (a flipped byte in a binary number shows
no other way), and then it is the very file written: its rows are not checked again.
A CSV is held to its columns and rows, as before the digests: one edited since the run
(tests stage a regression so) is read, and checked, instead of its twin.

A method, or one seed of a method, absent from ``results.csv`` altogether reads as not
run: ``regbench compare`` calls such a method missing, and folders holding a subset of
a run's methods or seeds are how its tests stage that. The rows of a method and seed
that are present must all be there, in every table.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from regbench.common.arrays import load_npz
from regbench.outputs import parquet
from regbench.outputs.run_info import RunInfo
from regbench.plugin.metric import Column

Group = tuple[str, float | None]  # a method and its seed (None: fields scored by `regbench evaluate`)
# Keys every run.json has held since the first, and the JSON type of each key a reader uses.
RUN_INFO_REQUIRED = ("command", "dataset", "methods")
RUN_INFO_TYPES: dict[str, type | tuple[type, ...]] = {
    "command": str, "dataset": str, "methods": list, "dataset_options": dict, "requested_methods": (str, type(None)),
    "not_installed": dict, "seeds": list, "run_once": list, "training": dict, "columns": list, "files": dict,
    "fields": dict, "export": (list, type(None)), "train_datasets": (dict, type(None)), "history": list}


class DamagedResults(ValueError):
    """A file of a results folder that cannot be read as it was written (see module doc)."""


@dataclass(frozen=True)
class TableShape:
    """What every table of one kind holds: its ``required`` columns, the columns that hold
    numbers where present (``numeric``), ``key``: the columns no two rows share, and the
    values a column may take (``values``)."""

    required: tuple[str, ...]
    numeric: tuple[str, ...]
    key: tuple[str, ...]
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def with_numeric(self, columns: Sequence[str]) -> TableShape:
        """This shape, with ``columns`` (a run's metrics) holding numbers too."""
        return replace(self, numeric=(*self.numeric, *columns))


def _seed(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _group_keys(frame: pd.DataFrame) -> list[Group]:
    """Each row's method and seed."""
    seeds = frame["seed"] if "seed" in frame else [None] * len(frame)
    return list(zip(frame["method"].astype(str), map(_seed, seeds), strict=True))


def row_counts(frame: pd.DataFrame) -> Counter[Group]:
    """How many rows ``frame`` holds of each method and seed, in the order each first
    appears; counted by pandas, not row by row (a 3D run's label table has 10⁵ rows)."""
    counts: Counter[Group] = Counter()
    if "method" not in frame:
        return counts
    seeds = frame["seed"] if "seed" in frame else pd.Series(np.nan, index=frame.index)
    for (method, seed), count in frame.groupby([frame["method"], seeds], sort=False, dropna=False).size().items():
        counts[str(method), _seed(seed)] += int(count)
    return counts


def _named(group: Group) -> str:
    method, seed = group
    return method if seed is None else f"{method} (seed {seed:g})"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest(folder: Path, tables: Mapping[str, pd.DataFrame], *archives: Path | None) -> dict[str, Any]:
    """What ``write_run`` records in run.json about the files it wrote into ``folder``:
    each table's columns, rows per method and seed and digest, and each ``.npz`` archive's
    arrays (the snapshot's, the previews')."""
    files: dict[str, Any] = {
        name: {"columns": [str(column) for column in frame.columns],
               "rows": [[method, seed, count] for (method, seed), count in row_counts(frame).items()],
               "sha256": _sha256((folder / name).read_bytes())}
        for name, frame in tables.items()}
    for archive in archives:
        if archive is not None:
            files[archive.name] = {"arrays": sorted(load_npz(archive)), "sha256": _sha256(archive.read_bytes())}
    return files


def remedy(folder: Path, command: object) -> str:
    """The command that writes ``folder``'s files again, as advice; ``command``: what
    run.json records as the command (None: nothing; anything, when run.json is damaged)."""
    if isinstance(command, str) and command.startswith("regbench evaluate"):
        return f"rerun `{command}`: it scores the fields again and rewrites the tables"
    reused = "stored results in progress/ are reused, so only the tables are rewritten"
    if isinstance(command, str):
        return f"rerun `{command}`: {reused}"
    if (folder / "progress").is_dir():
        return f"rerun the `regbench run` command that wrote {folder}: {reused}"
    return f"rerun the regbench command that wrote {folder}"


def _is_number(value: object) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _declaration_problem(item: object) -> str | None:
    """Why ``item`` is not a metric column's declaration as run.json holds them, or None."""
    try:
        column = Column(**item)  # type: ignore[arg-type]  # a JSON object, checked here
        format(0.0, column.format)
    except (TypeError, ValueError) as error:
        return f"a declaration it cannot use ({error})"
    robust = column.robust
    usable = (isinstance(column.name, str) and isinstance(column.heading, str) and isinstance(column.per_label, bool)
              and column.better in (None, "higher", "lower") and _is_number(column.tolerance)
              and (column.figure is None or isinstance(column.figure, str))
              and (robust is None or (isinstance(robust, list) and len(robust) == 2 and _is_number(robust[0])
                                      and isinstance(robust[1], str))))
    return None if usable else f"a declaration of {column.name!r} with values of the wrong kind"


def _is_record(name: str, entry: object) -> bool:
    """Whether ``entry`` is what :func:`manifest` records of the file ``name``."""
    if not isinstance(entry, dict):
        return False
    if name.endswith(".npz"):
        # With its digest since 2026-12; an older run.json records the arrays only.
        return (entry.keys() in ({"arrays"}, {"arrays", "sha256"}) and _strings(entry["arrays"])
                and isinstance(entry.get("sha256", ""), str))
    # A table's record, with its digest: a CSV's in an older run.json has none, a Parquet file's always has one.
    keys = [{"columns", "rows", "sha256"}, *([] if name.endswith(parquet.SUFFIX) else [{"columns", "rows"}])]
    rows = entry.get("rows")
    return (entry.keys() in keys and isinstance(entry.get("sha256", ""), str) and _strings(entry["columns"])
            and isinstance(rows, list)
            and all(isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and _is_number(row[1])
                    and isinstance(row[2], int) and not isinstance(row[2], bool) for row in rows))


def _history_entry(entry: object) -> bool:
    """Whether ``entry`` is one of run.json's ``history`` records: an object whose
    seconds are a number, and whose counts whole numbers, where recorded."""
    if not isinstance(entry, dict):
        return False
    number = (int, float, type(None))
    return (isinstance(entry.get("seconds"), number) and not isinstance(entry.get("seconds"), bool)
            and all(isinstance(entry.get(key), (int, type(None))) and not isinstance(entry.get(key), bool)
                    for key in ("computed", "reused")))


def _run_info_problem(info: object) -> str | None:
    """Why ``info`` is not what a run.json holds, or None."""
    if not isinstance(info, dict):
        return f"holds a JSON {type(info).__name__}, not an object"
    missing = [key for key in RUN_INFO_REQUIRED if key not in info]
    if missing:
        return f"has no {', '.join(missing)}"
    wrong = [key for key, kind in RUN_INFO_TYPES.items() if key in info and not isinstance(info[key], kind)]
    if wrong:
        return f'holds "{wrong[0]}" of the wrong JSON type ({type(info[wrong[0]]).__name__})'
    if not all(_strings(info.get(key, [])) for key in ("methods", "run_once")):
        return 'holds "methods" or "run_once" that are not lists of names'
    if not all(_history_entry(entry) for entry in info.get("history", [])):
        return 'holds in "history" an entry that is not a record of a run'
    problems = [_declaration_problem(item) for item in info.get("columns", [])]
    problem = next((problem for problem in problems if problem), None)
    if problem:
        return f'holds in "columns" {problem}'
    wrong = [name for name, entry in info.get("files", {}).items() if not _is_record(name, entry)]
    return f'holds in "files" a record of {wrong[0]} that is not one' if wrong else None


def _columns_problem(columns: list[str], recorded: list[str]) -> str | None:
    """Why a table's ``columns`` are not those run.json ``recorded``, or None."""
    if columns == recorded:
        return None
    missing, extra = [c for c in recorded if c not in columns], [c for c in columns if c not in recorded]
    if not missing and not extra:
        return "has its columns in another order than run.json records"
    return (f"has other columns than run.json records (missing: {', '.join(missing) or 'none'}; "
            f"not recorded: {', '.join(extra) or 'none'})")


def _row(rows: pd.Series) -> int:
    """The number of the first of ``rows`` (a boolean mask), counting from 1 after the header."""
    return int(np.flatnonzero(rows.to_numpy())[0]) + 1


def _cells_problem(frame: pd.DataFrame, shape: TableShape) -> str | None:
    """Why the rows of ``frame`` do not fit ``shape``, or None."""
    missing = [column for column in shape.required if column not in frame]
    if missing:
        return f"has no column {', '.join(missing)} (a table of its kind has {', '.join(shape.required)})"
    for column, allowed in shape.values.items():
        wrong = ~frame[column].isin(allowed)
        if wrong.any():
            return (f"has {column} {frame[column][wrong].iloc[0]!r} in row {_row(wrong)} "
                    f"(expected {' or '.join(allowed)})")
    for column in (column for column in shape.numeric if column in frame):
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):  # numbers (or nothing) throughout: no text to find
            continue
        text = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        if text.any():
            return f"has text where numbers belong: {column} {values[text].iloc[0]!r} in row {_row(text)}"
    repeated = frame.duplicated([column for column in shape.key if column in frame])
    if repeated.any():
        return f"repeats in row {_row(repeated)} the {', '.join(shape.key)} of an earlier row"
    return None


def _rows_problem(frame: pd.DataFrame, recorded: list[list[Any]], ran: Counter[Group] | None) -> str | None:
    """Why ``frame`` does not hold the rows run.json records, or None; a method and seed
    absent from results.csv (``ran``; None: this is results.csv) need none (see module doc)."""
    found, wanted = row_counts(frame), Counter({(method, _seed(seed)): count for method, seed, count in recorded})
    for group in sorted(found.keys() | wanted.keys(), key=str):
        if found[group] != wanted[group] and (found[group] or (ran is not None and group in ran)):
            return f"has {found[group]} rows of {_named(group)}; run.json records {wanted[group]}"
    return None


def _table_problem(frame: pd.DataFrame, shape: TableShape, entry: Mapping[str, Any] | None,
                   ran: Counter[Group] | None) -> str | None:
    """Why ``frame`` is not the table run.json's ``entry`` records (None: an older folder)
    and that fits ``shape``, or None; a table of nothing fits any shape."""
    if entry is not None and (problem := _columns_problem(list(frame.columns), entry["columns"])):
        return problem
    if len(frame.columns) and (problem := _cells_problem(frame, shape)):
        return problem
    return _rows_problem(frame, entry["rows"], ran) if entry is not None else None


def _pairs_problem(results: pd.DataFrame) -> str | None:
    """Why the methods (and seeds) of ``results`` do not all have rows for the same pairs, or None."""
    pairs: dict[Group, set[str]] = {}
    for group, pair in zip(_group_keys(results), results["pair"].astype(str), strict=True):
        pairs.setdefault(group, set()).add(pair)
    every = set().union(*pairs.values())
    short = next((group for group, found in pairs.items() if found != every), None)
    if short is None:
        return None
    lost = sorted(every - pairs[short])
    return (f"has rows of {_named(short)} for {len(pairs[short])} of the run's {len(every)} pairs "
            f"(none for {', '.join(lost[:3])}{' ...' if len(lost) > 3 else ''})")


def _damaged(folder: Path, name: str, problem: str, command: object) -> DamagedResults:
    """The error of the file ``name``: its path, its ``problem`` and the command that writes it again."""
    return DamagedResults(f"{folder / name} {problem}; {remedy(folder, command)}")


@dataclass(frozen=True)
class FolderCheck:
    """Reads the files of one results folder, each checked (see module doc)."""

    folder: Path
    run_info: RunInfo

    @classmethod
    def open(cls, folder: Path, run_file: str) -> FolderCheck:
        """Start with ``run_file`` (run.json), checked; a folder without one reads as one
        from before it existed."""
        path = folder / run_file
        if not path.exists():
            return cls(folder, RunInfo())
        try:
            info = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as error:
            raise _damaged(folder, run_file, f"is not readable JSON ({error})", None) from None
        problem = _run_info_problem(info)
        if problem:
            raise _damaged(folder, run_file, problem, info.get("command") if isinstance(info, dict) else None)
        return cls(folder, RunInfo.from_json(info))

    @property
    def recorded(self) -> Mapping[str, Any] | None:
        """What run.json records of the files written with it (:func:`manifest`); None for older folders."""
        return self.run_info.files

    def damaged(self, name: str, problem: str) -> DamagedResults:
        return _damaged(self.folder, name, problem, self.run_info.command)

    def source(self, name: str, twin: str) -> str:
        """The file to read the table ``name`` (a CSV) from: its Parquet ``twin`` (typed,
        and faster) when run.json records both and ``name`` is still the file written
        with it; else ``name`` itself (see module doc). ``write_run`` writes a CSV before
        its twin: one last modified before the twin was not touched since, and its
        digest is computed only otherwise (an edit, a copied folder, a clock's coarse
        tick), so the common read costs no pass over the CSV. Either way what is read is
        checked: the twin by its digest, the CSV by its columns and rows."""
        recorded = self.recorded or {}
        digest = recorded.get(name, {}).get("sha256")
        if twin not in recorded or digest is None:
            return name
        if not (self.folder / twin).exists():
            return twin  # recorded but gone: reading it says so
        try:
            if (self.folder / name).stat().st_mtime_ns < (self.folder / twin).stat().st_mtime_ns:
                return twin
            return twin if _sha256((self.folder / name).read_bytes()) == digest else name
        except OSError:  # gone or unreadable: reading it says so
            return name

    def _parse(self, name: str) -> pd.DataFrame:
        """The table in the file ``name``: a Parquet file or a CSV, whole."""
        try:
            data = (self.folder / name).read_bytes()
        except OSError as error:
            raise self.damaged(name, f"cannot be read ({error})") from None
        return self._parquet(name, data) if name.endswith(parquet.SUFFIX) else self._csv(name, data)

    def _parquet(self, name: str, data: bytes) -> pd.DataFrame:
        """The table of the Parquet file ``name`` (``data``), only if it is the file
        written: it has the digest run.json records."""
        if _sha256(data) != (self.recorded or {}).get(name, {}).get("sha256"):
            raise self.damaged(name, "is not the file run.json records (its SHA-256 differs): damaged or replaced "
                               "since it was written" if data else "is empty (0 bytes)")
        try:
            return parquet.read_table(data)
        except (pa.ArrowException, ValueError) as error:  # the file as written, but not readable here
            raise self.damaged(name, f"is not a readable Parquet table ({error})") from None

    def _csv(self, name: str, data: bytes) -> pd.DataFrame:
        """The CSV file ``name`` (``data``), whole: pandas writes a newline after every row,
        so a file without one at its end was cut short."""
        if not data.endswith(b"\n"):
            raise self.damaged(name, "does not end with a newline: it was cut short while being written"
                               if data else "is empty (0 bytes)")
        try:
            text = data.decode("utf-8")
            return pd.DataFrame() if text == "\n" else pd.read_csv(io.StringIO(text))  # "\n": a table of nothing
        except ValueError as error:  # not UTF-8; not a CSV table
            raise self.damaged(name, f"is not a readable CSV table ({error})") from None

    def table(self, name: str, shape: TableShape, ran: Counter[Group] | None = None) -> pd.DataFrame:
        """The table ``name``, checked against ``shape`` and run.json's record; an empty
        frame when a folder from before that record lacks it. ``ran``: the rows
        results.csv holds of each method and seed (None: this is results.csv)."""
        entry = (self.recorded or {}).get(name)
        if not (self.folder / name).exists():
            if entry is None:
                return pd.DataFrame()
            raise self.damaged(name, "is missing (run.json records it)")
        frame = self._parse(name)
        if name.endswith(parquet.SUFFIX):  # the very bytes written (its digest checked): its rows are the run's
            return frame
        problem = _table_problem(frame, shape, entry, ran)
        if problem:
            raise self.damaged(name, problem)
        return frame

    def results(self, name: str, shape: TableShape) -> pd.DataFrame:
        """The results table: a checked table (:meth:`table`) with rows, for the same pairs
        of every method and seed."""
        frame = self.table(name, shape)
        problem = "holds no rows" if frame.empty else _pairs_problem(frame)
        if problem:
            raise self.damaged(name, problem)
        return frame

    def snapshot(self, name: str) -> dict[str, np.ndarray]:
        """The figure's arrays (:meth:`archive`), with the ones every snapshot holds."""
        return self.archive(name, lambda arrays: None if {"pair", "fixed", "moving"} <= arrays.keys()
                            else "lacks the arrays pair, fixed and moving of every snapshot")

    def archive(self, name: str, problem: Callable[[dict[str, np.ndarray]], str | None]) -> dict[str, np.ndarray]:
        """The arrays of the ``.npz`` file ``name`` (the figure's, the previews): those
        run.json records (none when it records none: a file left by an earlier run is not
        this one's); in an older folder, the file's. A damaged file when its SHA-256 is not
        the one recorded (run.json records one since 2026-12), its arrays not those
        recorded, or ``problem`` says why they are not what such a file holds."""
        recorded, digest = None, None
        if self.recorded is not None:
            entry = self.recorded.get(name)
            if entry is None:
                return {}
            recorded, digest = entry["arrays"], entry.get("sha256")
        elif not (self.folder / name).exists():
            return {}
        if digest is not None:  # the file written, not another run's with the same arrays
            try:
                data = (self.folder / name).read_bytes()
            except OSError as error:
                raise self.damaged(name, f"cannot be read ({error})") from None
            if _sha256(data) != digest:
                raise self.damaged(name, "is not the file run.json records (its SHA-256 differs): damaged or "
                                   "replaced since it was written")
        try:
            arrays = load_npz(self.folder / name)
        except ValueError as error:
            raise self.damaged(name, f"is {error}") from None
        if recorded is not None and sorted(arrays) != sorted(recorded):
            raise self.damaged(name, f"holds arrays {', '.join(sorted(arrays))}; run.json records "
                               f"{', '.join(recorded)}")
        if (found := problem(arrays)) is not None:
            raise self.damaged(name, found)
        return arrays
