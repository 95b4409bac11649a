"""The files of a results folder: what ``regbench run`` writes, and reading them back.

| file | holds |
| --- | --- |
| ``results.csv`` | one row per method × seed × pair (:mod:`regbench.outputs.schema`) |
| ``label_metrics.csv`` | one row per method × seed × pair × label |
| ``results.parquet``, ``label_metrics.parquet`` | the same tables typed, with the run's settings (docs/results.md) |
| ``training.csv`` | the training loss, one row per method × step, and the validation scores |
| ``table.md`` | the reference paper's Table 1 |
| ``run.json`` | how the run was made, the metrics' column declarations, and what was written (``files``) |
| ``qualitative.npz`` | one pair's arrays, for the report's figure |
| ``previews.npz`` | every pair's preview, per method, for the pair viewer (below) |

Each file is written whole or not at all (:func:`regbench.common.atomic.atomic_write`),
``run.json`` last, and read back checked against what it records
(:mod:`regbench.outputs.integrity`): a table from its Parquet file where there is one,
else (an older folder) from its CSV.

``previews.npz`` (:func:`regbench.outputs.nifti.write_previews`) grows with pairs ×
methods, not with the images: each pair's fixed and moving middle slice once, and each
method's (its first seed's) warped image, in-plane displacement and Jacobian determinant
per pair, every one at most 96 voxels a side (an integer stride), float16. A 3D pair keeps
one middle slice, never its volume: O(pairs × methods × 96²) float16, at most 72 KiB per
method × pair before compression. 60 pairs × 7 methods of 80 × 96 (mni2d's 160 × 192 at
stride 2) are 1,380 arrays, 26.4 MiB, 16.1 MiB compressed on disk, read back checked in
0.35 s (``python benchmarks/preview_viewer_scale.py``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from regbench.common.atomic import atomic_write, atomic_write_text
from regbench.outputs import parquet, schema, seeds
from regbench.outputs.integrity import FolderCheck, TableShape, manifest, row_counts
from regbench.outputs.nifti import PREVIEW_FILE, SNAPSHOT_FILE, previews_problem, write_previews, write_snapshot
from regbench.outputs.run_info import RunInfo
from regbench.outputs.tables import table1, table_notes
from regbench.plugin.metric import Column

RESULTS_FILE = "results.csv"
TRAINING_FILE = "training.csv"
LABEL_METRICS_FILE = "label_metrics.csv"
# The tables also written typed (regbench.outputs.parquet), each beside its CSV.
PARQUET_FILES = {RESULTS_FILE: "results.parquet", LABEL_METRICS_FILE: "label_metrics.parquet"}
TABLE_FILE = "table.md"
RUN_FILE = "run.json"
# training.csv: the loss at every step; the validation scores at the steps they were taken.
TRAINING_SCORES = ("val_mse", "val_dice")
TRAINING_COLUMNS = ["method", "seed", "step", "loss", *TRAINING_SCORES]
# What every table of each kind holds, for reading it back (report and compare index these).
RESULTS_SHAPE = TableShape(required=("method", "pair", "status", "seconds"), numeric=schema.NUMERIC,
                           key=("method", "seed", "pair"), values={"status": schema.STATUSES})
LABEL_METRICS_SHAPE = TableShape(required=("method", "pair", "label_id", "label"), numeric=("seed", "label_id"),
                                 key=("method", "seed", "pair", "label_id"))
TRAINING_SHAPE = TableShape(required=("method", "step", "loss"), numeric=("seed", "step", "loss", *TRAINING_SCORES),
                            key=("method", "seed", "step"))


@dataclass
class RunOutput:
    """Tidy results: ``results`` has one row per method × pair, ``label_metrics`` one row
    per method × pair × label (Dice, HD95...), ``training`` one row per method × training step."""

    results: pd.DataFrame
    label_metrics: pd.DataFrame
    training: pd.DataFrame
    figure_pair: str | None = None
    snapshots: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # method -> figure arrays
    # method -> pair -> its preview by kind (regbench.outputs.nifti.preview_of), each method's first seed's
    previews: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    reused: int = 0  # results read back from an earlier, interrupted or identical run


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    atomic_write(path, lambda partial: table.to_csv(partial, index=False))


def write_run(out_dir: Path, output: RunOutput, run_info: RunInfo) -> list[Path]:
    """Write the tidy CSVs and the Parquet files of two of them (with ``run_info``'s
    settings in their metadata), the Markdown table, the figure pair's arrays
    (``qualitative.npz``), every pair's previews (``previews.npz``) and, last,
    ``run.json``: ``run_info``, how the run was made (with the metrics' columns), and a
    record of the files written (``files``), which readers check them against. Each file
    is replaced whole: a run killed meanwhile leaves each one old or new, never half of
    one, and the old run.json until all are new."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {RESULTS_FILE: output.results, LABEL_METRICS_FILE: output.label_metrics, TRAINING_FILE: output.training}
    for name, table in tables.items():
        _write_csv(out_dir / name, table)
    settings = {key: value for key, value in run_info.to_json().items() if key != "files"}
    for name, twin in PARQUET_FILES.items():
        parquet.write_table(out_dir / twin, tables[name], run_info.columns, settings)
    tables |= {twin: tables[name] for name, twin in PARQUET_FILES.items()}
    notes = "".join(f"\n\n{note}" for note in table_notes(output.results))
    atomic_write_text(out_dir / TABLE_FILE, table1(output.results).to_markdown(tablefmt="github") + notes + "\n")
    snapshot = write_snapshot(out_dir, output.figure_pair, output.snapshots) if output.figure_pair is not None else None
    previews = write_previews(out_dir, output.previews)
    archives = [path for path in (snapshot, previews) if path is not None]
    info = dataclasses.replace(run_info, files=manifest(out_dir, tables, *archives))
    atomic_write_text(out_dir / RUN_FILE, json.dumps(info.to_json(), indent=2, default=str) + "\n")
    return [*(out_dir / name for name in (*tables, TABLE_FILE, RUN_FILE)), *archives]


@dataclass
class ResultsFolder:
    """What ``regbench run`` wrote into one folder."""

    path: Path
    results: pd.DataFrame
    label_metrics: pd.DataFrame
    training: pd.DataFrame
    run_info: RunInfo
    snapshot: dict[str, np.ndarray]
    previews: dict[str, np.ndarray] = field(default_factory=dict)  # previews.npz's arrays, by key

    @classmethod
    def read(cls, path: Path, *, arrays: bool = True) -> ResultsFolder:
        """Read the folder, every file checked (:mod:`regbench.outputs.integrity`): a
        missing ``results.csv`` is a FileNotFoundError naming it, a damaged file a
        :class:`~regbench.outputs.integrity.DamagedResults` naming it and the command that
        writes it again. A table comes from its Parquet file where run.json records one
        (:meth:`~regbench.outputs.integrity.FolderCheck.source`), else from its CSV.
        ``arrays=False`` skips the figure's arrays and the previews (for readers that need
        only tables)."""
        results_file = path / RESULTS_FILE
        if not results_file.is_file():
            raise FileNotFoundError(f"{results_file} not found: expected a folder written by `regbench run`")
        check = FolderCheck.open(path, RUN_FILE)
        declared = check.run_info.columns
        results = check.results(check.source(RESULTS_FILE, PARQUET_FILES[RESULTS_FILE]),
                                RESULTS_SHAPE.with_numeric(schema.metric_names(declared, labels=False)))
        ran = row_counts(results)
        return cls(
            path=path,
            results=results,
            label_metrics=check.table(check.source(LABEL_METRICS_FILE, PARQUET_FILES[LABEL_METRICS_FILE]),
                                      LABEL_METRICS_SHAPE.with_numeric(schema.metric_names(declared, labels=True)),
                                      ran),
            training=check.table(TRAINING_FILE, TRAINING_SHAPE, ran),
            run_info=check.run_info,
            snapshot=check.snapshot(SNAPSHOT_FILE) if arrays else {},
            previews=check.archive(PREVIEW_FILE, previews_problem) if arrays else {},
        )

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.results["method"]))

    def in_order(self, methods: Sequence[str]) -> ResultsFolder:
        """The folder with its tables' rows in the order of ``methods`` (stable within a
        method), so every table and figure that lists methods as they appear lists them so."""
        return dataclasses.replace(self, results=seeds.in_method_order(self.results, methods),
                                   label_metrics=seeds.in_method_order(self.label_metrics, methods),
                                   training=seeds.in_method_order(self.training, methods))

    @property
    def ok(self) -> pd.DataFrame:
        return self.results[self.results["status"] == schema.OK]

    @property
    def metric_columns(self) -> list[Column]:
        """The metrics' columns, as the run declared them (see :func:`schema.metric_columns`)."""
        return schema.metric_columns(self.results, self.run_info.columns)
