"""The tidy tables as Parquet: every column typed, the run's settings inside (docs/results.md).

A CSV cannot say what its columns hold: one missing count turns a column of integers
into floats, ``True`` comes back as text or an object, an empty text cell as a float
NaN, and a large table parses slowly. ``results.parquet`` and
``label_metrics.parquet`` hold the same rows as their CSVs, each column with the Arrow
type :func:`regbench.outputs.schema.column_type` gives it (a column it does not know
keeps the type pandas gave its values), and the run's settings under
:data:`METADATA_KEY`, so ``pd.read_parquet`` or ``pl.read_parquet`` reads them typed
without regbench. Empty text is missing, as in the CSV, so both files read as one table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from regbench.common.atomic import atomic_write
from regbench.outputs import schema
from regbench.plugin.metric import Column

SUFFIX = ".parquet"
METADATA_KEY = b"regbench"  # the run's settings: run.json's object without its "files"
# The pandas dtype that holds each of schema.column_type's Arrow types, missing values
# included (pyarrow records it in the file, so pd.read_parquet restores it too).
PANDAS_DTYPES = {"int64": "Int64", "bool": "boolean", "double": "float64", "string": "str"}
ARROW_TYPES = {"int64": pa.int64(), "bool": pa.bool_(), "double": pa.float64(), "string": pa.string()}


def _text(values: pd.Series) -> pd.Series:
    """``values`` as text, missing where the CSV's cell is empty (a missing value or
    ``""``), so the Parquet table and the CSV read back alike."""
    text = values.astype("str").where(values.notna())  # pandas 2 writes a missing value as "nan"
    return text.mask(text == "")


def _inferred(values: pd.Series) -> pd.Series:
    """A column no schema group or declaration knows, as pandas typed it; values of
    mixed kinds, which no one Arrow type holds, as text (as the CSV holds them), so that
    an odd extra column never stops a run's tables being written."""
    try:
        pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _text(values)
    return values


def _typed(values: pd.Series, kind: str | None) -> pd.Series:
    """``values`` in the pandas dtype of ``kind`` (None: :func:`_inferred`); a value that
    does not fit (text in a number column, 2.5 in an integer one) is an error, never
    rounded or dropped."""
    if kind is None:
        return _inferred(values)
    return _text(values) if kind == "string" else values.astype(PANDAS_DTYPES[kind])


def arrow_table(frame: pd.DataFrame, declared: Sequence[Column], settings: Mapping[str, Any]) -> pa.Table:
    """``frame`` as an Arrow table: each column of the type its name has in a run whose
    metrics ``declared`` their columns, and ``settings`` (JSON-able) in its metadata."""
    kinds = {name: schema.column_type(name, declared) for name in frame.columns}
    typed = pd.DataFrame({name: _typed(frame[name], kind) for name, kind in kinds.items()}, index=frame.index)
    table = pa.Table.from_pandas(typed, preserve_index=False)
    fields = [field.with_type(ARROW_TYPES[kinds[field.name]]) if kinds[field.name] else field
              for field in table.schema]
    metadata = {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(settings, default=str).encode()}
    return table.cast(pa.schema(fields, metadata=metadata))


def write_table(path: Path, frame: pd.DataFrame, declared: Sequence[Column], settings: Mapping[str, Any]) -> None:
    """Write ``frame`` to ``path`` typed (:func:`arrow_table`), whole or not at all."""
    table = arrow_table(frame, declared, settings)
    atomic_write(path, lambda partial: pq.write_table(table, partial))


def read_table(data: bytes) -> pd.DataFrame:
    """The table of a Parquet file's bytes, in the pandas dtypes it was written from
    (:data:`PANDAS_DTYPES`); pyarrow's error when ``data`` is not one."""
    return pq.read_table(pa.BufferReader(data)).to_pandas()
