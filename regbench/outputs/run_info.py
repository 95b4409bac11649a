"""``run.json``: how a results folder was made, as one typed record.

``regbench run`` records its settings (seeds, profile, workers, ...); ``regbench
evaluate`` records the folders whose fields it scored (``fields``) and none of the
settings only a run has. Both record the metrics' column declarations (``columns``) and
what was written (``files``: :func:`regbench.outputs.integrity.manifest`). The JSON keys
are the fields' names, the same in every version, so files on disk stay readable both
ways: :meth:`RunInfo.from_json` leaves a key an older run.json lacks unrecorded (None, or
empty), and a folder without run.json reads as ``RunInfo()``, nothing recorded.

A run that reuses stored results rewrites run.json, but keeps the ``history`` of every
``regbench run`` that wrote the folder (:func:`continued_history`): the record of the
run that computed the results, and how long it took, is never replaced by a rerun's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from regbench.outputs import schema
from regbench.plugin.metric import Column

# What `regbench evaluate` records; `regbench run` records every other field, and no "fields".
EVALUATE_KEYS = ("command", "dataset", "dataset_options", "methods", "fields", "seconds", "columns", "files")
# Fields held as tuples here and as JSON lists in run.json.
_SEQUENCES = ("methods", "seeds", "run_once", "export", "history")


@dataclass(frozen=True)
class RunInfo:
    """One ``run.json`` (see module doc); None: not recorded."""

    command: str | None = None  # the command line as typed (shlex-quoted)
    dataset: str | None = None
    dataset_options: Mapping[str, Any] | None = None
    train_datasets: Mapping[str, Mapping[str, Any]] | None = None  # --train-dataset: each one's options; None: none
    methods: tuple[str, ...] = ()  # every method (or variant) that ran, in order
    fields: Mapping[str, str] | None = None  # regbench evaluate: each method's folder of fields; None: a run
    requested_methods: str | None = None  # --methods as given
    not_installed: Mapping[str, str] = field(default_factory=dict)  # method -> why it could not run here
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # method -> its resolved parameters
    seed: int | None = None  # the first of ``seeds``
    seeds: tuple[int, ...] = ()
    run_once: tuple[str, ...] = ()  # with several seeds: the methods run once (their results do not depend on it)
    profile: str | None = None  # the training profile's name
    training: Mapping[str, Any] | None = None  # the training profile's settings, as run
    seconds: float | None = None  # wall seconds of the whole command
    reused_results: int | None = None  # results read back from an earlier run (progress/)
    workers: int | None = None
    scheduler: str | None = None  # --scheduler: a Dask cluster
    timing_repeats: int | None = None
    batch_pairs: int | None = None
    export: tuple[str, ...] | None = None  # --export FORMAT DIR
    config_file: str | None = None
    config: Mapping[str, Any] | None = None  # every setting the command ran with, file and flags merged
    columns: tuple[Column, ...] = ()  # the metrics' column declarations
    files: Mapping[str, Any] | None = None  # what was written with it; None: a folder from before that record
    # Every `regbench run` that wrote the folder, oldest first: {"finished": ISO time or None,
    # "command", "seconds", "computed": results computed, "reused": results read back}.
    history: tuple[Mapping[str, Any], ...] = ()

    @property
    def evaluated(self) -> bool:
        """Whether ``regbench evaluate`` wrote the folder: fields made elsewhere, scored untimed."""
        return self.fields is not None

    def to_json(self) -> dict[str, Any]:
        """run.json's object: the keys its command has always written (see module doc)."""
        values = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        values["columns"] = schema.declarations_to_json(self.columns)
        keys = EVALUATE_KEYS if self.evaluated else [key for key in values if key != "fields"]
        return {key: values[key] for key in keys}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInfo:
        """The record of a run.json's object, its JSON types checked first
        (:mod:`regbench.outputs.integrity`): a key it lacks stays unrecorded, one this
        version does not know (a newer version's) is left out."""
        values = {item.name: data[item.name] for item in dataclasses.fields(cls) if item.name in data}
        for key in _SEQUENCES:
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        values["columns"] = tuple(schema.declarations_from_json(data.get("columns", [])))
        return cls(**values)


def run_record(info: RunInfo, computed: int, finished: datetime) -> dict[str, Any]:
    """One entry of ``history``: this command, when it finished, its seconds and how many
    results it computed and reused."""
    return {"finished": finished.isoformat(timespec="seconds"), "command": info.command, "seconds": info.seconds,
            "computed": computed, "reused": info.reused_results or 0}


def continued_history(previous: RunInfo, fresh: bool) -> tuple[Mapping[str, Any], ...]:
    """The history a rerun carries on from the folder's previous run.json: its own, or, for
    a run.json from before histories, one entry made from its command and seconds (when
    it finished unknown). Nothing after ``--fresh``: every result is computed again."""
    if fresh or previous.command is None or previous.evaluated:
        return ()
    if previous.history:
        return previous.history
    return ({"finished": None, "command": previous.command, "seconds": previous.seconds,
             "computed": None, "reused": previous.reused_results},)
