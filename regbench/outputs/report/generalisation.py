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


def trained_elsewhere(folder: ResultsFolder) -> bool:
    """Whether any learning method of ``folder`` was trained on another dataset."""
    return any(TRAINED_ON in method for method in _training_rows(folder))


def _training_rows(folder: ResultsFolder) -> dict[str, str | None]:
    """Each method of ``folder`` and the dataset it trained on (None: it does not learn)."""
    results = folder.results
    if "train_dataset" not in results:
        return dict.fromkeys(folder.methods)
    recorded = results.groupby("method", sort=False)["train_dataset"].first()
    return {method: recorded.get(method) if isinstance(recorded.get(method), str) else None
            for method in folder.methods}


def _row_key(method: str, trained_on: str | None) -> tuple[str, str, bool]:
    """The matrix row of ``method`` (its name in a folder) trained on ``trained_on``: the
    method without the dataset in its name, the dataset, and whether it was trained
    where it is evaluated (its name bare)."""
    if trained_on is None:
        return method, NOT_TRAINED, False
    suffix = f"{TRAINED_ON}{trained_on}"
    if method.endswith(suffix):
        return method[: -len(suffix)], trained_on, False
    return method, trained_on, True


def matrix(folders: Mapping[str, ResultsFolder], means: Mapping[str, SeedMeans],
           column: Column) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean ``column`` (over each method's successful pairs, with several seeds of each
    pair's mean over seeds) by (method, trained on) and dataset evaluated on (the
    folders' labels), and whether each cell is in-distribution; learning methods first,
    each with its rows together, then the methods that do not learn."""
    values: dict[tuple[str, str], dict[str, float]] = {}
    inside: dict[tuple[str, str], dict[str, bool]] = {}
    for label, folder in folders.items():
        scores = metric_means(means[label].pairs, [column])[column.name]
        for method, trained_on in _training_rows(folder).items():
            base, source, own = _row_key(method, trained_on)
            key = (base, source)
            if label in values.get(key, {}):  # vxm1 and vxm1@synthetic: synthetic with other options
                key = (base, f"{source} (other options)")
            values.setdefault(key, {})[label] = float(scores.get(method, np.nan))
            inside.setdefault(key, {})[label] = own
    order = list(values)
    bases = list(dict.fromkeys(base for base, _ in order))
    keys = sorted(order, key=lambda key: (key[1] == NOT_TRAINED, bases.index(key[0]), order.index(key)))
    index = pd.MultiIndex.from_tuples(keys, names=["method", "trained on"])
    table = pd.DataFrame([values[key] for key in keys], index=index).reindex(columns=list(folders))
    marks = pd.DataFrame([inside[key] for key in keys], index=index).reindex(columns=list(folders)).fillna(False)
    return table, marks.astype(bool)


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
            f"{IN_DISTRIBUTION} cell of the same method. Methods that do not learn ('trained on' {NOT_TRAINED}) "
            "follow, the yardstick of each column: a network trained elsewhere that falls below them there does not "
            "transfer.", table=matrix_text(table, marks).reset_index(level="trained on")))
    return sections

