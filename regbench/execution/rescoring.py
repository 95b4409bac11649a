"""``regbench evaluate``: fields made elsewhere, scored as a run scores its own.

Each folder of displacement fields (Learn2Reg's submission layout, the fields of
``regbench run --save-warped``, or ITK/ANTs/elastix transforms; see
:mod:`regbench.outputs.fields`) stands for one method, named after the folder. Every test pair's field is read, checked and scored
with the same metrics, warping and per-label rows as a run
(:func:`regbench.execution.evaluation.score_into`), so the tables and the report are
a run's, less the timing, memory and training columns that only a run can measure.
A pair whose field is missing or malformed becomes a ``failed`` row; the others still count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from regbench.execution.evaluation import PairLoader, error_text, pair_outcome, score_into
from regbench.execution.store import PairRecord
from regbench.measuring import devices
from regbench.outputs import schema
from regbench.outputs.fields import FieldExport, FieldSource
from regbench.outputs.files import TRAINING_COLUMNS, RunOutput
from regbench.outputs.nifti import figure_arrays, preview_of
from regbench.plugin.dataset import Dataset, Pair, Subject
from regbench.plugin.method import check_displacement
from regbench.plugin.metric import Metric


def _score_pair(name: str, source: FieldSource, pair: Pair, loaded: tuple[Subject, Subject] | str,
                dataset: Dataset, metrics: Sequence[Metric], keep_arrays: bool,
                export: FieldExport | None = None) -> PairRecord:
    """One field scored (and exported, when ``export`` is given); ``loaded`` is the pair's
    subjects, or why the dataset could not give them."""
    record = PairRecord(row=schema.pair_row(name, dataset.name, pair.id, pair.fixed_id, pair.moving_id, None))
    if isinstance(loaded, str):
        record.row["error"] = loaded
        return record
    fixed, moving = loaded
    try:
        path = source.path(pair)
    except ValueError as error:  # a pair with several transforms: which one counts is not ours to guess
        record.row["error"] = error_text(error)
        return record
    if not path.is_file():
        record.row["error"] = f"no field for this pair: {path} not found"
        return record
    try:
        field = source.read(pair, fixed, moving, dataset.spacing)
        displacement = check_displacement(name, field, fixed.image)
        outcome = pair_outcome(dataset, pair, fixed, moving, displacement,
                               devices.pick_device().type, metrics)  # a GPU when there is one
        score_into(record, metrics, outcome, pair, keep_arrays)
        if export is not None:
            export.write(pair, displacement, fixed, moving, dataset.spacing)
        record.row["status"] = schema.OK
    except Exception as error:  # one bad field never loses the others
        record.row["error"] = f"{path.name}: {error_text(error)}"
        record.labels, record.arrays = [], {}
    return record


def score_folders(
    sources: Mapping[str, FieldSource],
    pairs: Sequence[Pair],
    dataset: Dataset,
    metrics: Sequence[Metric],
    figure_pair: str | None = None,
    progress: bool = True,
    exports: Mapping[str, FieldExport] | None = None,
) -> RunOutput:
    """Score every source's field of every pair, pair by pair (each pair's images loaded
    once), with each pair's preview for the pair viewer; write each field scored into
    ``exports[source]`` when given."""
    rows, labels, snapshots, previews = [], [], {}, {}
    load = PairLoader(dataset)
    with tqdm(total=len(pairs) * len(sources), desc=dataset.name, unit="field", disable=not progress) as bar:
        for pair in pairs:
            try:
                loaded: tuple[Subject, Subject] | str = load(pair)
            except Exception as error:  # a pair the dataset cannot give fails; the others still count
                loaded = error_text(error)
            for name, source in sources.items():
                record = _score_pair(name, source, pair, loaded, dataset, metrics, pair.id == figure_pair,
                                     (exports or {}).get(name))
                rows.append(record.row)
                labels.extend(record.labels)
                if record.ok and (figure := figure_arrays(record.arrays)):
                    snapshots[name] = figure
                if record.ok and (preview := preview_of(record.arrays)) is not None:
                    previews.setdefault(name, {})[pair.id] = preview
                bar.update()
    return RunOutput(results=schema.ordered(pd.DataFrame(rows)), label_metrics=pd.DataFrame(labels),
                     training=pd.DataFrame(columns=TRAINING_COLUMNS), figure_pair=figure_pair,
                     snapshots=snapshots, previews=previews)
