"""Trained here, tested there: the matrix of learning methods trained on one dataset and
evaluated on another (``regbench run --train-dataset``).

A learning method's rows record the dataset it trained on (``train_dataset``); one
trained where it is evaluated keeps its own name (``vxm1``), one trained elsewhere is
named ``vxm1@synthetic``. Per judged metric (Dice in a default run), the matrix has a
row per method and dataset trained on and a column per dataset evaluated on; the
in-distribution cell of each column (trained and evaluated on that dataset) is marked,
every other cell gives its difference from it, and methods that do not learn stand
below, once per column, as the yardstick an off-diagonal cell is read against.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from regbench.outputs.files import ResultsFolder
from regbench.outputs.report.datasets import metric_means
from regbench.outputs.report.figures import judged
from regbench.outputs.report.glance import primary, significant
from regbench.outputs.report.render import Section
from regbench.outputs.seeds import SeedMeans
from regbench.plugin.metric import Column
from regbench.plugin.variants import TRAINED_ON

IN_DISTRIBUTION = "◆"  # marks a cell whose method was trained on the dataset it is evaluated on
NOT_TRAINED = "—"  # the "trained on" of a method that does not learn


Trained = tuple[str, str]  # the dataset a method trained on: its name and its options (JSON)


def _trained(folder: ResultsFolder) -> dict[str, Trained | None]:
    """Each method of ``folder`` and the dataset it trained on (None: it does not learn),
    as its rows record it; a learning method (one with a training time) of a folder
    written before rows recorded it trained on the folder's own dataset."""
    results = folder.results
    own = (folder.run_info.dataset or "?",
           json.dumps(folder.run_info.dataset_options or {}, default=str, sort_keys=True))
    columns = [column for column in ("train_seconds", "train_dataset", "train_dataset_options") if column in results]
    recorded = results.groupby("method", sort=False)[columns].first()
    trained: dict[str, Trained | None] = {}
    for method in folder.methods:
        row = recorded.loc[method] if method in recorded.index else pd.Series(dtype=object)
        if isinstance(row.get("train_dataset"), str):
            trained[method] = (row["train_dataset"], str(row.get("train_dataset_options")))
        else:
            trained[method] = own if pd.notna(row.get("train_seconds", np.nan)) else None
    return trained


def _at_home(method: str, trained: Trained) -> bool:
    """Whether ``method`` (its name in a folder) was trained on the dataset it is evaluated
    on: only then does a run name it bare, without ``@DATASET``."""
    return not method.endswith(f"{TRAINED_ON}{trained[0]}")


def trained_elsewhere(folder: ResultsFolder) -> bool:
    """Whether any learning method of ``folder`` was trained on another dataset."""
    return any(trained is not None and not _at_home(method, trained) for method, trained in _trained(folder).items())


def _names(sources: list[Trained]) -> dict[Trained, str]:
    """How the matrix names each dataset trained on: its name, numbered where the folders
    trained on datasets of one name with different options (``synthetic (2)``)."""
    names = {}
    for source in sources:
        kin = [other for other in sources if other[0] == source[0]]
        names[source] = source[0] if len(kin) == 1 else f"{source[0]} ({kin.index(source) + 1})"
    return names


def matrix(folders: Mapping[str, ResultsFolder], means: Mapping[str, SeedMeans],
           column: Column) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean ``column`` (over each method's successful pairs, with several seeds of each
    pair's mean over seeds) by (method, trained on) and dataset evaluated on (the
    folders' labels), and whether each cell is in-distribution; learning methods first,
    each with its rows together, then the methods that do not learn."""
    trained = {label: _trained(folder) for label, folder in folders.items()}
    names = _names(list(dict.fromkeys(source for rows in trained.values() for source in rows.values() if source)))
    values: dict[tuple[str, str], dict[str, float]] = {}
    inside: dict[tuple[str, str], dict[str, bool]] = {}
    for label, rows in trained.items():
        scores = metric_means(means[label].pairs, [column])[column.name]
        for method, source in rows.items():
            if source is None:
                key, home = (method, NOT_TRAINED), False
            else:
                home = _at_home(method, source)
                key = (method if home else method[: -len(f"{TRAINED_ON}{source[0]}")], names[source])
            values.setdefault(key, {})[label] = float(scores.get(method, np.nan))
            inside.setdefault(key, {})[label] = home
    order = list(values)
    bases = list(dict.fromkeys(base for base, _ in order))
    keys = sorted(order, key=lambda key: (key[1] == NOT_TRAINED, bases.index(key[0]), order.index(key)))
    index = pd.MultiIndex.from_tuples(keys, names=["method", "trained on"])
    table = pd.DataFrame([values[key] for key in keys], index=index).reindex(columns=list(folders))
    marks = pd.DataFrame([[inside[key].get(label, False) for label in folders] for key in keys], index=index,
                         columns=list(folders), dtype=bool)
    return table, marks


def matrix_text(table: pd.DataFrame, marks: pd.DataFrame) -> pd.DataFrame:
    """The cells as the report prints them: in-distribution ``0.871 ◆``, another cell of a
    learning method ``0.702 (-0.169)`` (its difference from its column's in-distribution
    cell of the same method), a method that does not learn its mean alone."""
    text = table.map(lambda value: significant(value) if value == value else "")
    for key in table.index:
        for label in table.columns:
            value = table.at[key, label]
            if value != value:
                continue
            if marks.at[key, label]:
                text.at[key, label] = f"{significant(value)} {IN_DISTRIBUTION}"
                continue
            home = [other for other in table.index if other[0] == key[0] and marks.at[other, label]]
            if key[1] != NOT_TRAINED and home:
                drop = value - table.at[home[0], label]
                sign = "±" if drop == 0 else "+" if drop > 0 else ""
                text.at[key, label] = f"{significant(value)} ({sign}{significant(drop)})"
    return text


def generalisation_sections(folders: Mapping[str, ResultsFolder],
                            means: Mapping[str, SeedMeans]) -> list[Section]:
    """A matrix section per judged metric column (else the primary one) when any learning
    method was trained on a dataset other than one it is evaluated on; else none."""
    if not any(trained_elsewhere(folder) for folder in folders.values()):
        return []
    shared = [column for column in next(iter(folders.values())).metric_columns
              if all(column in folder.metric_columns for folder in folders.values())]
    shown = judged(shared) or [column for column in [primary(shared)] if column is not None]
    sections = []
    for column in shown:
        table, marks = matrix(folders, means, column)
        sections.append(Section(
            f"Trained here, tested there: {column.heading}",
            f"Mean {column.heading} ({column.better} is better) of each learning method by the dataset it was trained "
            f"on (rows) and the one it was evaluated on (columns). {IN_DISTRIBUTION}: trained and evaluated on the "
            "same dataset; every other cell of a learning method gives in brackets its difference from that column's "
            f"{IN_DISTRIBUTION} cell of the same method. A dataset trained on with different options in different "
            "folders is numbered, synthetic (1) and synthetic (2): each row's options are in its results "
            "(train_dataset_options). Methods that do not learn ('trained on' {NOT_TRAINED}) "
            "follow, the yardstick of each column: a network trained elsewhere that falls below them there does not "
            "transfer.", table=matrix_text(table, marks).reset_index(level="trained on")))
    return sections

