"""Seconds to read a 3D run's label table: from label_metrics.parquet against label_metrics.csv.

A folder of realistic size, written by :func:`regbench.outputs.files.write_run`: an
OASIS-like 3D run of 12 methods × 3 seeds × 100 test pairs × 35 labels (126,000 label
rows, with the label columns of every installed metric that needs only labels). Its
label table is read as :meth:`ResultsFolder.read` reads it, every check included: from
the Parquet file, and from the CSV (the same folder with the Parquet files left out of
run.json, as a folder written before them reads). Each read is timed ``--repeats``
times in this process, fastest kept; pandas' bare parse of each file is shown beside.
The issue's bar: the checked Parquet read at least 5× faster than the checked CSV read.

    python benchmarks/results_read_speed.py [--methods 12] [--seeds 3] [--pairs 100] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from regbench.outputs import schema
from regbench.outputs.files import (
    LABEL_METRICS_FILE,
    LABEL_METRICS_SHAPE,
    PARQUET_FILES,
    RESULTS_FILE,
    RESULTS_SHAPE,
    RUN_FILE,
    RunOutput,
    write_run,
)
from regbench.outputs.integrity import FolderCheck, row_counts
from regbench.outputs.run_info import RunInfo
from regbench.plugin.manager import collect, plugin_manager
from regbench.plugin.metric import Column

# neurite-OASIS's 35 labels (seg35_labels.txt): 16 structures on each side, 3 on the midline.
SIDED = ("Cerebral-White-Matter", "Cerebral-Cortex", "Lateral-Ventricle", "Inf-Lat-Vent", "Cerebellum-White-Matter",
         "Cerebellum-Cortex", "Thalamus", "Caudate", "Putamen", "Pallidum", "Hippocampus", "Amygdala", "Accumbens",
         "VentralDC", "vessel", "choroid-plexus")
LABELS = (*(f"Left-{name}" for name in SIDED), "3rd-Ventricle", "4th-Ventricle", "Brain-Stem",
          *(f"Right-{name}" for name in SIDED))
METHODS = ("identity", "ants-affine", "ants-syn", "dipy-syn", "elastix-bspline", "convexadam", "fireants", "vxm1",
           "vxm2", "eca-unet", "transmorph", "unigradicon")


def label_metric_columns() -> tuple[Column, ...]:
    """The columns of the installed metrics a labelled dataset without landmarks scores (OASIS's)."""
    entries = collect(plugin_manager([])).metrics.entries()
    return tuple(column for entry in entries if entry.installed
                 and not entry.cls.needs_landmarks and not entry.cls.needs_true_displacement
                 for column in entry.cls.columns)


def run_output(methods: int, seeds: int, pairs: int, declared: tuple[Column, ...]) -> RunOutput:
    """A run's tables of this size, every number random at full precision, as measured ones are."""
    rng = np.random.default_rng(0)
    pair_ids = [(f"OASIS_OAS1_{i:04d}_MR1", f"OASIS_OAS1_{i + 1:04d}_MR1") for i in range(400, 400 + pairs)]
    names = [METHODS[i % len(METHODS)] + (f"-{i // len(METHODS)}" if i >= len(METHODS) else "") for i in range(methods)]
    groups = [(method, seed) for method in names for seed in range(seeds)]
    per_label = [column.name for column in declared if column.per_label]
    labels = pd.DataFrame([{"method": method, "seed": seed, "pair": f"{moving}->{fixed}", "label_id": index,
                            "label": name} for method, seed in groups for fixed, moving in pair_ids
                           for index, name in enumerate(LABELS, start=1)])
    labels[per_label] = rng.random((len(labels), len(per_label)))
    rows = []
    for method, seed in groups:
        for fixed, moving in pair_ids:
            row = schema.pair_row(method, "oasis3d", f"{moving}->{fixed}", fixed, moving, seed)
            row.update(status=schema.OK, timing_repeats=1, timing_batch=1, cpu_cores=16, torch_threads=16,
                       device="cuda", method_params="{}", regbench_version="0.1.0", python_version="3.11.7")
            row.update({name: rng.random() for name in (*schema.metric_names(declared, labels=False),
                                                       *schema.TIMING[:2], *schema.TIMING[4:], *schema.MEMORY)})
            rows.append(row)
    return RunOutput(results=schema.ordered(pd.DataFrame(rows)), label_metrics=labels, training=pd.DataFrame())


def without_parquet(folder: Path, copy: Path) -> Path:
    """A copy of ``folder`` whose run.json records no Parquet file: it reads from its CSVs."""
    shutil.copytree(folder, copy)
    info = json.loads((copy / RUN_FILE).read_text())
    for twin in PARQUET_FILES.values():
        (copy / twin).unlink()
        del info["files"][twin]
    (copy / RUN_FILE).write_text(json.dumps(info))
    return copy


def label_reader(folder: Path) -> tuple[FolderCheck, Callable[[], pd.DataFrame]]:
    """The folder's check, and what reads its label table as :meth:`ResultsFolder.read`
    does: from the file it chooses, every check made (the results table, which those
    need, read beforehand)."""
    check = FolderCheck.open(folder, RUN_FILE)
    declared = check.run_info.columns
    results = check.results(check.source(RESULTS_FILE, PARQUET_FILES[RESULTS_FILE]),
                            RESULTS_SHAPE.with_numeric(schema.metric_names(declared, labels=False)))
    shape, ran = LABEL_METRICS_SHAPE.with_numeric(schema.metric_names(declared, labels=True)), row_counts(results)
    return check, lambda: check.table(check.source(LABEL_METRICS_FILE, PARQUET_FILES[LABEL_METRICS_FILE]),
                                   shape, ran)


def fastest(action: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` calls, in seconds."""
    return min(timeit.repeat(action, number=1, repeat=repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    declared = label_metric_columns()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "run"
        output = run_output(args.methods, args.seeds, args.pairs, declared)
        write_run(folder, output, RunInfo(command="regbench run (benchmarks/results_read_speed.py)",
                                          dataset="oasis3d", dataset_options={}, training={},
                                          methods=tuple(dict.fromkeys(output.results["method"])),
                                          seeds=tuple(range(args.seeds)), columns=declared))
        check, from_parquet = label_reader(folder)
        _, from_csv = label_reader(without_parquet(folder, Path(scratch) / "csv"))
        typed, text = from_parquet(), from_csv()
        assert len(typed) == len(text) == len(output.label_metrics) and typed["label_id"].dtype == "Int64"
        csv_file, parquet_file = folder / LABEL_METRICS_FILE, folder / PARQUET_FILES[LABEL_METRICS_FILE]
        timed = {
            "regbench, CSV": fastest(from_csv, args.repeats),
            "regbench, Parquet": fastest(from_parquet, args.repeats),
            "  of which: CSV unchanged?": fastest(
                lambda: check.source(LABEL_METRICS_FILE, parquet_file.name), args.repeats),
            "pd.read_csv": fastest(lambda: pd.read_csv(csv_file), args.repeats),
            "pd.read_parquet": fastest(lambda: pd.read_parquet(parquet_file), args.repeats),
        }
        sizes = [path.stat().st_size / 2**20 for path in (csv_file, parquet_file)]
    print(f"label table: {len(typed):,} rows × {len(typed.columns)} columns ({args.methods} methods × {args.seeds} "
          f"seeds × {args.pairs} pairs × {len(LABELS)} labels); CSV {sizes[0]:.1f} MiB, Parquet {sizes[1]:.1f} MiB")
    for name, seconds in timed.items():
        print(f"  {name:<28} {seconds * 1000:7.1f} ms (fastest of {args.repeats})")
    print(f"Parquet is {timed['regbench, CSV'] / timed['regbench, Parquet']:.1f}x faster as regbench reads it "
          f"(the Parquet file checked by its digest, the CSV by its columns and rows), "
          f"{timed['pd.read_csv'] / timed['pd.read_parquet']:.1f}x in pandas alone")


if __name__ == "__main__":
    main()
