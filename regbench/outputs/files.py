"""The files of a results folder: what ``regbench run`` writes, and reading them back.

| file | holds |
| --- | --- |
| ``results.csv`` | one row per method × pair (:mod:`regbench.outputs.schema`) |
| ``label_metrics.csv`` | one row per method × pair × label |
| ``training.csv`` | the training loss, one row per method × step, and the validation scores |
| ``table.md`` | the reference paper's Table 1 |
| ``run.json`` | how the run was made, and the metrics' column declarations |
| ``qualitative.npz`` | one pair's arrays, for the report's figure |
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from regbench.outputs import schema
from regbench.outputs.nifti import SNAPSHOT_FILE, write_snapshot
from regbench.outputs.tables import table1, table_notes
from regbench.plugin.metric import Column

RESULTS_FILE = "results.csv"
TRAINING_FILE = "training.csv"
LABEL_METRICS_FILE = "label_metrics.csv"
TABLE_FILE = "table.md"
RUN_FILE = "run.json"
# training.csv: the loss at every step; the validation scores at the steps they were taken.
TRAINING_SCORES = ("val_mse", "val_dice")
TRAINING_COLUMNS = ["method", "seed", "step", "loss", *TRAINING_SCORES]


@dataclass
class RunOutput:
    """Tidy results: ``results`` has one row per method × pair, ``label_metrics`` one row
    per method × pair × label (Dice, HD95...), ``training`` one row per method × training step."""

    results: pd.DataFrame
    label_metrics: pd.DataFrame
    training: pd.DataFrame
    figure_pair: str | None = None
    snapshots: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # method -> figure arrays
    reused: int = 0  # results read back from an earlier, interrupted or identical run


def write_run(out_dir: Path, output: RunOutput, run_info: dict[str, Any], columns: list[Column]) -> list[Path]:
    """Write the tidy CSVs, the Markdown table, ``run.json`` (how the run was made, with
    the metrics' ``columns``) and the figure pair's arrays (``qualitative.npz``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / RESULTS_FILE, out_dir / LABEL_METRICS_FILE, out_dir / TRAINING_FILE,
             out_dir / TABLE_FILE, out_dir / RUN_FILE]
    output.results.to_csv(paths[0], index=False)
    output.label_metrics.to_csv(paths[1], index=False)
    output.training.to_csv(paths[2], index=False)
    notes = "".join(f"\n\n{note}" for note in table_notes(output.results))
    table = table1(output.results).to_markdown(tablefmt="github") + notes
    paths[3].write_text(table + "\n", encoding="utf-8")
    info = {**run_info, "columns": schema.declarations_to_json(columns)}
    paths[4].write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
    if output.figure_pair is not None:
        snapshot = write_snapshot(out_dir, output.figure_pair, output.snapshots)
        paths += [snapshot] if snapshot else []
    return paths


@dataclass
class ResultsFolder:
    """What ``regbench run`` wrote into one folder."""

    path: Path
    results: pd.DataFrame
    label_metrics: pd.DataFrame
    training: pd.DataFrame
    run_info: dict[str, Any]
    snapshot: dict[str, np.ndarray]

    @classmethod
    def read(cls, path: Path, *, arrays: bool = True) -> ResultsFolder:
        """Read the folder; a missing ``results.csv`` is a FileNotFoundError naming it.
        ``arrays=False`` skips the figure's arrays (for readers that need only tables)."""
        results_file = path / RESULTS_FILE
        if not results_file.is_file():
            raise FileNotFoundError(f"{results_file} not found: expected a folder written by `regbench run`")

        def optional_csv(name: str) -> pd.DataFrame:
            file = path / name
            return pd.read_csv(file) if file.is_file() and file.stat().st_size > 1 else pd.DataFrame()

        run_file, snapshot_file = path / RUN_FILE, path / SNAPSHOT_FILE
        snapshot = dict(np.load(snapshot_file)) if arrays and snapshot_file.is_file() else {}
        return cls(
            path=path,
            results=pd.read_csv(results_file),
            label_metrics=optional_csv(LABEL_METRICS_FILE),
            training=optional_csv(TRAINING_FILE),
            run_info=json.loads(run_file.read_text()) if run_file.is_file() else {},
            snapshot=snapshot,
        )

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.results["method"]))

    @property
    def ok(self) -> pd.DataFrame:
        return self.results[self.results["status"] == schema.OK]

    @property
    def metric_columns(self) -> list[Column]:
        """The metrics' columns, as the run declared them (see :func:`schema.metric_columns`)."""
        declared = schema.declarations_from_json(self.run_info.get("columns", []))
        return schema.metric_columns(self.results, declared)
