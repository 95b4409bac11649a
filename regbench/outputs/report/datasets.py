"""Methods compared across datasets: which folder is which dataset, each method's mean
per metric, its rank per dataset and mean rank, and who wins where.

Plain pandas on what :class:`~regbench.outputs.files.ResultsFolder` reads; the combined
report (:mod:`.combined`) lays them out. Values are compared as the tables show them
(each column's declared format): two methods whose means read the same tie.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from regbench.outputs import schema
from regbench.outputs.run_info import RunInfo
from regbench.plugin.metric import Column


class SameDataset(ValueError):
    """Two results folders of one dataset (same name and options): the ranking would count it twice."""


def dataset_labels(runs: Sequence[tuple[Path, RunInfo]]) -> list[str]:
    """Each folder's name in the combined report: its dataset's name, or, where another
    folder ran a dataset of that name with other options (``synthetic`` in 2D and in 3D),
    the name and the folder. Two folders of the same data raise :class:`SameDataset`
    naming both: a dataset counts once in a ranking over datasets."""
    seen: dict[tuple[str, str], Path] = {}
    for path, info in runs:  # a folder that records no dataset (no run.json) is only the same as itself
        key = ((info.dataset, repr(sorted((info.dataset_options or {}).items()))) if info.dataset is not None
               else ("", str(path.resolve())))
        if key in seen:
            raise SameDataset(f"{seen[key]} and {path} hold the same dataset ({info.dataset or 'not recorded'}, "
                              "same options): a ranking across datasets counts each dataset once; report one of "
                              "them, or compare the two with `regbench compare`")
        seen[key] = path
    names = [info.dataset for _, info in runs]
    for folder in (lambda path: path.name, str):  # the folder's name, or its path where two names are alike
        labels = [f"{info.dataset or '?'} ({folder(path)})" if info.dataset is None or names.count(info.dataset) > 1
                  else info.dataset for path, info in runs]
        if len(set(labels)) == len(labels):
            break
    return labels


def metric_means(pairs: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """One row per method (in order of appearance), one column per metric (``Column.name``):
    its mean over the method's successful pairs, as the summary table's; ``pairs``: one row
    per method × pair (:func:`regbench.outputs.seeds.pair_means`). NaN: no successful pair."""
    methods = list(dict.fromkeys(pairs["method"]))
    ok = pairs[pairs["status"] == schema.OK]
    means = ok.groupby("method", sort=False)[[column.result_column for column in columns]].mean()
    means.columns = [column.name for column in columns]
    return means.reindex(methods)


def _as_shown(values: pd.DataFrame | pd.Series, column: Column) -> pd.DataFrame | pd.Series:
    """``values`` rounded as the tables print them (``column.format``), so that equal-looking means tie."""
    return values.map(lambda value: float(f"{value:{column.format}}") if pd.notna(value) else value)


def ranks(scores: pd.DataFrame, column: Column) -> pd.DataFrame:
    """``scores``: methods × datasets, each method's mean ``column`` (NaN: not run there).
    Its rank on each dataset among the methods that ran there, 1 the best; tied methods
    share the mean of the ranks they span (two tied for first: 1.5 each)."""
    return _as_shown(scores, column).rank(ascending=column.better == "lower", method="average")


def ranking(scores: pd.DataFrame, column: Column) -> pd.DataFrame:
    """Per method its rank on each dataset (:func:`ranks`), ``mean rank`` over the datasets
    it ran on and ``datasets``, how many: sorted by ``datasets`` first (most first), then
    mean rank, so a method ranked on fewer datasets never reads above one ranked on more."""
    ranked = ranks(scores, column)
    table = ranked.assign(**{"mean rank": ranked.mean(axis=1), "datasets": ranked.notna().sum(axis=1)})
    return table.sort_values(["datasets", "mean rank"], ascending=[False, True], kind="stable")


def ranking_table(scores: pd.DataFrame, column: Column) -> pd.DataFrame:
    """:func:`ranking` to read: per dataset ``rank of n (mean)``, ``-`` where the method did not run."""
    ranked, shown = ranking(scores, column), _as_shown(scores, column)
    table = pd.DataFrame({"mean rank": ranked["mean rank"].map("{:.2f}".format),
                          "datasets": ranked["datasets"].map(f"{{}} of {scores.shape[1]}".format)})
    for dataset in scores:
        of = scores[dataset].notna().sum()
        table[f"{dataset} (rank of {of})"] = [
            f"{ranked.at[method, dataset]:g} ({shown.at[method, dataset]:{column.format}})"
            if pd.notna(ranked.at[method, dataset]) else "-" for method in ranked.index]
    table.index.name = "method"
    return table


def winners(means: pd.Series, column: Column) -> str:
    """The best method(s) of ``means`` (one per method) by ``column``'s direction, ties
    all named, and the value: ``ants-syn (0.8369)``; ``-`` when none has a value."""
    shown = _as_shown(means.dropna(), column)
    if shown.empty:
        return "-"
    best = shown.max() if column.better == "higher" else shown.min()
    return f"{', '.join(shown.index[shown == best])} ({best:{column.format}})"


def directed(columns: Mapping[str, Sequence[Column]]) -> list[Column]:
    """The metric columns with a ``better`` direction that any dataset has, each once (by
    name, as the first dataset declaring it does), in order of appearance."""
    found: dict[str, Column] = {}
    for column in (column for dataset in columns.values() for column in dataset):
        if column.better is not None:
            found.setdefault(column.name, column)
    return list(found.values())


def wins_table(means: Mapping[str, pd.DataFrame], columns: Sequence[Column]) -> pd.DataFrame:
    """One row per metric column of ``columns``, one column per dataset: who wins there
    (:func:`winners`); ``means``: per dataset, :func:`metric_means`. ``-``: not measured there."""
    return pd.DataFrame({dataset: [winners(frame[column.name], column) if column.name in frame else "-"
                                   for column in columns] for dataset, frame in means.items()},
                        index=pd.Index([column.heading for column in columns], name="metric"))


def missing_text(columns: Mapping[str, Sequence[Column]], wanted: Sequence[Column]) -> str:
    """Which of ``wanted`` each dataset lacks, e.g. "Not measured: TRE (mm) on synthetic."; "" when none."""
    parts = []
    for dataset, present in columns.items():
        names = {column.name for column in present}
        lacking = [column.heading for column in wanted if column.name not in names]
        if lacking:
            parts.append(f"{', '.join(lacking)} on {dataset}")
    return f"Not measured: {'; '.join(parts)}." if parts else ""


def primary(columns: Mapping[str, Sequence[Column]]) -> Column | None:
    """The metric the methods are ranked by: the first column that every dataset has, of
    those the gate judges (a direction and a tolerance: Dice in a default run), else of
    those with a direction; None when the datasets share none."""
    candidates = directed(columns)
    candidates.sort(key=lambda column: column.tolerance is None)  # stable: judged first, each in its order
    return next((column for column in candidates
                 if all(column.name in {c.name for c in present} for present in columns.values())), None)
