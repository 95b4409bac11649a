"""How previews.npz and the pair viewer scale: their size, and the seconds to write and read them.

A run of realistic size without running methods: mni2d's test pairs (60 by default,
160 × 192 slices, so previews of 80 × 96 at stride 2), each "registered" by ``--methods``
stand-in methods that apply a growing fraction of the pair's true field (0 for the
first, identity, to 1 for the last). Every pair is scored as a run scores it
(:func:`regbench.execution.evaluation.score_into`, the installed metrics a labelled
dataset without landmarks gets), so its record holds the preview a run stores; the
folder is written by :func:`regbench.outputs.files.write_run`, read back checked by
:meth:`ResultsFolder.read`, and the viewer written by
:func:`regbench.outputs.report.viewer.write_viewer`, each timed once.

    python benchmarks/preview_viewer_scale.py [--pairs 60] [--methods 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from regbench.execution.evaluation import pair_outcome, score_into
from regbench.execution.store import PairRecord
from regbench.outputs import schema
from regbench.outputs.files import TRAINING_COLUMNS, ResultsFolder, RunOutput, write_run
from regbench.outputs.nifti import PREVIEW_FILE, preview_of
from regbench.outputs.report.viewer import write_viewer
from regbench.outputs.run_info import RunInfo
from regbench.plugin.manager import collect, plugin_manager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--methods", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="keep the folder here (default: a temporary one)")
    args = parser.parse_args()
    catalog = collect(plugin_manager([]))
    dataset = catalog.datasets["mni2d"].cls()
    metrics = [entry.cls() for entry in catalog.metrics.entries() if entry.installed
               and not entry.cls.needs_landmarks and not entry.cls.needs_true_displacement
               and not entry.name.startswith("l2r")]
    methods = ["identity", *(f"field-{index}/{args.methods - 1}" for index in range(1, args.methods))]
    pairs = dataset.test_pairs()[: args.pairs]
    rows, previews = [], {}
    started = time.perf_counter()
    for pair in pairs:
        fixed, moving = dataset.load(pair.fixed_id), dataset.load(pair.moving_id)
        truth = dataset.true_displacement(pair, fixed, moving)
        for index, method in enumerate(methods):
            displacement = (truth * index / (len(methods) - 1)).astype(np.float32)
            outcome = pair_outcome(dataset, pair, fixed, moving, displacement, "cpu", metrics)
            record = PairRecord(row=schema.pair_row(method, dataset.name, pair.id, pair.fixed_id, pair.moving_id, None))
            score_into(record, metrics, outcome, pair, keep_arrays=False)
            record.row.update(status=schema.OK, seconds=0.01 * (index + 1))
            rows.append(record.row)
            previews.setdefault(method, {})[pair.id] = preview_of(record.arrays)
    scored = time.perf_counter() - started
    output = RunOutput(results=schema.ordered(pd.DataFrame(rows)), label_metrics=pd.DataFrame(),
                       training=pd.DataFrame(columns=TRAINING_COLUMNS), previews=previews)
    info = RunInfo(command="benchmarks/preview_viewer_scale.py", dataset=dataset.name, dataset_options={},
                   methods=tuple(methods), fields=dict.fromkeys(methods, "(stand-in)"),  # recorded as an evaluation's
                   columns=tuple(column for metric in metrics for column in metric.columns))
    with tempfile.TemporaryDirectory() as temporary:
        out = args.out or Path(temporary)
        started = time.perf_counter()
        write_run(out, output, info)
        written = time.perf_counter() - started
        started = time.perf_counter()
        folder = ResultsFolder.read(out)
        read = time.perf_counter() - started
        started = time.perf_counter()
        page = write_viewer(folder, out, methods)
        viewed = time.perf_counter() - started
        assert page is not None
        arrays = sum(array.nbytes for array in folder.previews.values())
        shape = folder.previews[next(key for key in folder.previews if key.startswith("fixed/"))].shape
        print(f"{len(pairs)} pairs x {len(methods)} methods, previews of {shape[0]} x {shape[1]} (float16), "
              f"{len(folder.previews)} arrays")
        print(f"previews.npz: {(out / PREVIEW_FILE).stat().st_size / 2**20:.2f} MiB on disk "
              f"({arrays / 2**20:.2f} MiB of arrays); written with the run in {written:.2f} s, "
              f"read back checked in {read:.2f} s")
        print(f"viewer.html: {page.stat().st_size / 2**20:.2f} MiB, written in {viewed:.1f} s")
        print(f"(scoring the stand-in fields: {scored:.1f} s, not part of the above)")


if __name__ == "__main__":
    main()
