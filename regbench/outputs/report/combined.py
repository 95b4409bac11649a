"""The report of several results folders, one per dataset: which datasets, the methods
ranked across them, who wins where, figures with a panel per dataset, then each
dataset's summary (and spread across seeds) as its own report shows them.

The computations are :mod:`.datasets`'; the per-dataset tables are those of the report of
one folder (:mod:`.build`), so both read alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from regbench.outputs.files import ResultsFolder
from regbench.outputs.report import datasets, figures, statistics
from regbench.outputs.report.build import (
    FIGURES_DIR,
    glance_section,
    in_report_order,
    run_text,
    spread_sections,
    write_sections,
)
from regbench.outputs.report.generalisation import generalisation_sections
from regbench.outputs.report.render import Section
from regbench.outputs.seeds import SeedMeans
from regbench.plugin.metric import Column


def read_datasets(results_dirs: Sequence[Path]) -> dict[str, ResultsFolder]:
    """Each folder read and checked, as the report of one reads it (a missing or damaged
    one raises its error, naming it), under its dataset's label
    (:func:`.datasets.dataset_labels`: two folders of one dataset raise
    :class:`.datasets.SameDataset`)."""
    folders = [ResultsFolder.read(path, arrays=False) for path in results_dirs]
    labels = datasets.dataset_labels([(folder.path, folder.run_info) for folder in folders])
    return dict(zip(labels, folders, strict=True))


def _header(folders: Mapping[str, ResultsFolder]) -> list[Section]:
    """Which datasets, and how each folder was made (its run.json)."""
    intro = Section("Datasets", f"{len(folders)} results folders, one per dataset: {', '.join(folders)}. Methods are "
                                "ranked across them first; each dataset's own tables follow.")
    return [intro, *(Section(f"Dataset {label}", f"{run_text(folder.run_info, folder.results['pair'].nunique())}. "
                                                 f"Folder `{folder.path}`.")
                     for label, folder in folders.items())]


def _ranking_sections(means: Mapping[str, pd.DataFrame], columns: Mapping[str, Sequence[Column]],
                      methods: Sequence[str]) -> list[Section]:
    """The methods ranked by the primary metric (:func:`.datasets.primary`) across
    datasets, then the winners of every metric column with a direction on each."""
    directed = datasets.directed(columns)
    wins = Section("Wins per dataset", "The best method on each dataset by each metric column with a direction (its "
                                       "mean over successful pairs, as in that dataset's summary), ties all named. A "
                                       "method can win a column by doing little (identity never folds): read the "
                                       "columns together. " + datasets.missing_text(columns, directed),
                   table=datasets.wins_table(means, directed))
    column = datasets.primary(columns)
    if column is None:
        return [Section("Ranking across datasets", "The datasets share no metric column with a direction: no "
                                                    "ranking."), wins]
    scores = pd.DataFrame({label: frame[column.name] for label, frame in means.items()}).reindex(methods)
    text = (f"Each method's rank on each dataset by mean {column.heading} ({column.better} is better) among the "
            "methods that ran there (rank 1: the best; in brackets its mean over successful pairs). Means equal as "
            "printed tie and share the mean of the ranks they span (two tied for first: 1.5 each). Mean rank: over the "
            "datasets a method ran on; a dataset where it did not run, or where none of its pairs succeeded, is left "
            "out, not counted as a rank. Methods are listed by how many datasets they ran on, most first, then by "
            "mean rank: a method ranked on fewer datasets, against fewer rivals, is never listed above one ranked "
            "on more, whatever its mean rank.")
    return [Section("Ranking across datasets", text, table=datasets.ranking_table(scores, column)), wins]


def _figure_sections(pairs: Mapping[str, pd.DataFrame], columns: Mapping[str, Sequence[Column]],
                     methods: Sequence[str], figures_dir: Path) -> list[Section]:
    """Each judged column (Dice in a default run) per method, one panel per dataset."""
    sections = []
    for column in figures.judged(datasets.directed(columns)):
        path = figures.dataset_box_plot(column, pairs, methods, figures_dir)
        if path:
            sections.append(Section(f"{column.heading} per dataset", "Per-pair values (with several seeds each pair's "
                                                                     "mean over seeds), one panel per dataset; each "
                                                                     "method keeps its colour across panels.",
                                    figure=path))
    return sections


def _dataset_sections(label: str, folder: ResultsFolder, means: SeedMeans) -> list[Section]:
    """The dataset's summary at a glance and, with several seeds, its spread across seeds:
    its own report's sections, named, its methods in its own report's order."""
    folder, means = in_report_order(folder, means)
    own = [glance_section(folder, means), *spread_sections(folder, means)]
    return [dataclasses.replace(section, title=f"{label}: {section.title.lower()}") for section in own]


def combined_sections(folders: Mapping[str, ResultsFolder], figures_dir: Path) -> list[Section]:
    """The combined report's sections, in order; its figures written into ``figures_dir``."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    seed_means = {label: SeedMeans.of(folder.results) for label, folder in folders.items()}
    columns = {label: folder.metric_columns for label, folder in folders.items()}
    means = {label: datasets.metric_means(seed_means[label].pairs, columns[label]) for label in folders}
    methods = list(dict.fromkeys(method for folder in folders.values() for method in folder.methods))
    pairs = {label: own.pairs for label, own in seed_means.items()}
    primary = datasets.primary(columns)
    demsar = statistics.across_datasets_section(pairs, primary, methods, figures_dir) if primary is not None else None
    return [*_header(folders), *_ranking_sections(means, columns, methods),
            *generalisation_sections(folders, seed_means), *([demsar] if demsar else []),
            *_figure_sections(pairs, columns, methods, figures_dir),
            *(section for label, folder in folders.items()
              for section in _dataset_sections(label, folder, seed_means[label]))]


def write_combined_report(results_dirs: Sequence[Path], out_dir: Path) -> tuple[Path, Path]:
    """Read the results folders (see :func:`read_datasets`) and write their combined
    ``report.md`` and ``report.html`` into ``out_dir``; return their paths."""
    folders = read_datasets(results_dirs)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_sections(combined_sections(folders, out_dir / FIGURES_DIR), out_dir)
