"""The report of one results folder: what it says, in which order, and writing it.

Each pair's mean over seeds is computed here, once, and handed to every table and
figure that reads it (:class:`~regbench.outputs.seeds.SeedMeans`).
"""

from __future__ import annotations

from pathlib import Path

from regbench.common.atomic import atomic_write_text
from regbench.outputs import seeds
from regbench.outputs.files import ResultsFolder
from regbench.outputs.report import figures, statistics
from regbench.outputs.report.generalisation import generalisation_sections
from regbench.outputs.report.glance import FLOOR, best_method, glance_table, method_order, order_text, primary
from regbench.outputs.report.render import Section, to_html, to_markdown
from regbench.outputs.report.summary import families_text, label_table, summary_table
from regbench.outputs.report.viewer import write_viewer
from regbench.outputs.run_info import RunInfo
from regbench.outputs.seeds import SeedMeans
from regbench.outputs.tables import table1, table_notes

FIGURES_DIR = "report_files"


def _training_text(info: RunInfo) -> str:
    """The profile's settings as run, e.g. " (steps=250, lr=0.001, until=budget, ...)"."""
    settings = {key: value for key, value in (info.training or {}).items() if key != "name" and value is not None}
    return f" ({', '.join(f'{key}={value}' for key, value in settings.items())})" if settings else ""


def _seeds_text(info: RunInfo) -> str:
    """``seed 0``, or ``seeds 0, 1, 2 (identity run once: deterministic)``; ``seed ?`` when not recorded."""
    several = info.seeds or (info.seed if info.seed is not None else "?",)
    text = f"seed{'s' if len(several) > 1 else ''} {', '.join(map(str, several))}"
    return text + (f" ({', '.join(info.run_once)} run once: deterministic)" if info.run_once else "")


def _history_text(info: RunInfo) -> str:
    """When and in how long the results were computed, from run.json's history, e.g.
    "; results computed in 1210 s by 1 command, finished 2026-12-01T19:30:00+00:00; then
    reused as stored by 2 later commands"; empty for folders from before histories."""
    if not info.history:
        return ""
    computing = [entry for entry in info.history if entry.get("computed") != 0]  # None: an older record, counted
    parts = []
    if computing:
        seconds = [entry.get("seconds") for entry in computing]
        took = f" in {sum(seconds):.0f} s" if None not in seconds else ""
        finished = computing[-1].get("finished")
        parts.append(f"results computed{took} by {len(computing)} command{'s' * (len(computing) > 1)}"
                     + (f", finished {finished}" if finished else ""))
    reusing = len(info.history) - len(computing)
    if reusing:
        commands = f"{reusing} {'later ' if computing else ''}command{'s' * (reusing > 1)}"
        parts.append(f"{'then ' if computing else ''}reused as stored by {commands}"
                     + ("" if computing else " (the run that computed them is not recorded)"))
    return "; " + "; ".join(parts)


def run_text(info: RunInfo, n_pairs: int) -> str:
    """How the folder was made: by ``regbench run`` (its seeds and training profile), or by
    ``regbench evaluate`` from fields made elsewhere (which have neither); ``?``: not recorded."""
    if info.evaluated:
        folders = ", ".join(f"`{folder}`" for folder in (info.fields or {}).values())
        how = f"fields made elsewhere, scored by `regbench evaluate` from {folders} (no seed, profile or timing)"
    else:
        how = f"{_seeds_text(info)}, profile `{info.profile or '?'}`{_training_text(info)}"
    return (f"dataset `{info.dataset or '?'}`, {n_pairs} test pairs, {how}; command: `{info.command or '?'}`"
            + _history_text(info))


def spread_sections(folder: ResultsFolder, means: SeedMeans) -> list[Section]:
    """With several seeds: each metric's spread across seeds (see :mod:`regbench.outputs.seeds`)."""
    if not means.repeated:
        return []
    once = folder.run_info.run_once
    text = ("Each method's mean over pairs, computed per seed: the mean over seeds ± the sample std across "
            "seeds. A difference between two methods smaller than these spreads is not a ranking."
            + (f" Run once, their results not depending on the seed: {', '.join(once)}." if once else ""))
    table = seeds.spread_table(folder.results, folder.metric_columns, once)
    return [Section("Across seeds", text, table=table)]


def glance_section(folder: ResultsFolder, means: SeedMeans) -> Section:
    """The summary at a glance (:func:`.glance.glance_table`): what its cells hold, the
    methods' order, and what bold means."""
    table, emphasis = glance_table(means, folder.metric_columns)
    bold = ("Bold: the best value of a column (the floor left out; equal values tie) and, of a metric's mean, any "
            "within the larger std across seeds of it" if means.repeated
            else "Bold: the best value of a column (the floor left out; equal values tie)")
    text = ("Per-label scores as mean ± std over pairs (with several seeds, of each pair's mean over seeds) and their "
            "robust quantile where declared (L2R DSC30: the 30 % quantile); the other metrics as the mean over pairs; "
            f"3 significant digits. {bold}. {order_text(folder.metric_columns)} Every column, with its std: "
            "\"Summary, every column\", below. " + " ".join(table_notes(folder.results)))
    return Section("Summary", text, table=table, emphasis=emphasis)


def full_summary_section(folder: ResultsFolder, means: SeedMeans) -> Section:
    """Every metric column per method (:func:`.summary.summary_table`), folded."""
    return Section("Summary, every column", "Each metric as mean ± std over pairs (with several seeds, of each pair's "
                                            "mean over seeds; and, where a metric declares one, a robust quantile over "
                                            "pairs, e.g. L2R DSC30), then time, memory and training. "
                                            + families_text(folder.metric_columns),
                   table=summary_table(folder.results, folder.metric_columns, means.pairs), folded=True)


def _figure_sections(folder: ResultsFolder, means: SeedMeans, figures_dir: Path,
                     viewer: Path | None) -> list[Section]:
    """The figures, those of metric columns as their declarations choose (:mod:`.figures`),
    the accuracy-against-speed figure first; after the qualitative figure, the link to
    ``viewer`` (the pair viewer), when there is one."""
    sections = []
    pareto = figures.accuracy_speed_figure(figures.label_scores(folder.metric_columns), means, folder.methods,
                                           figures_dir)
    if pareto:
        sections.append(Section("Accuracy and speed", "Each method's mean accuracy against its median seconds "
                                                      f"per pair (log axis). {pareto[1]}", figure=pareto[0]))
    for column in figures.judged(folder.metric_columns):
        sections.append(Section(f"{column.heading} per method",
                                figure=figures.method_box_plot(column, means, folder.methods, figures_dir)))
        per_label = figures.label_box_plot(column, folder.label_metrics, folder.methods, figures_dir)
        if per_label:
            sections.append(Section(f"{column.heading} per label (plot)", figure=per_label))
    qualitative = figures.qualitative_figure(folder, figures_dir)
    if qualitative:
        sections.append(Section("Qualitative comparison", "Warped images, deformation grids and Jacobian determinants "
                                                          "for one pair (middle slice in 3D).", figure=qualitative))
    if viewer is not None:
        sections.append(Section("Pair viewer", "Every test pair, two methods side by side (images, difference to "
                                               "fixed, checkerboard, grid, Jacobian, metrics; pairs sortable, worst "
                                               "first): a page of its own, offline.", link=viewer.name))
    for name, columns in figures.grouped(folder.metric_columns).items():
        panels = figures.panel_box_plot(name, columns, means, folder.methods, figures_dir)
        if panels:
            sections.append(Section(name.capitalize(), "Per-pair values per method, one panel per metric column "
                                                       "(columns: the summary's definitions).", figure=panels))
    runtime = figures.runtime_memory_chart(folder, figures_dir)
    if runtime:
        sections.append(Section("Runtime and memory", figure=runtime))
    training = figures.training_figure(folder, figures_dir)
    if training:
        sections.append(Section("Training", figure=training))
    return sections


def in_report_order(folder: ResultsFolder, means: SeedMeans | None = None) -> tuple[ResultsFolder, SeedMeans]:
    """``folder`` with its methods in the report's order (:func:`.glance.method_order`),
    and its means over seeds in that order (``means``, when the caller has them; else
    computed here, once for every table and figure)."""
    means = SeedMeans.of(folder.results) if means is None else means
    order = method_order(means, folder.metric_columns)
    return folder.in_order(order), means.in_order(order)


def build_sections(folder: ResultsFolder, means: SeedMeans, figures_dir: Path,
                   viewer: Path | None = None) -> list[Section]:
    """The report's sections, in order: how the run was made, the summary at a glance,
    the comparison with the best, the figures, then the long tables, folded. Its figures
    are written into ``figures_dir``; methods appear as in ``folder`` and ``means``, its
    means over seeds (:func:`in_report_order`); ``viewer``: the pair viewer's page,
    linked after the qualitative figure."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    key = primary(folder.metric_columns)
    compared = (statistics.comparison_sections(means.pairs, key, folder.methods, figures_dir)
                if key is not None else [])
    versus, long = [s for s in compared if not s.folded], [s for s in compared if s.folded]
    sections = [
        Section("Run", run_text(folder.run_info, folder.results["pair"].nunique())),
        glance_section(folder, means),
        *spread_sections(folder, means),
        *versus,
        *generalisation_sections({folder.run_info.dataset or "?": folder}, {folder.run_info.dataset or "?": means}),
        *_figure_sections(folder, means, figures_dir, viewer),
        full_summary_section(folder, means),
        Section("Table 1", "Dice per test pair, mean ± std over labels (the reference paper's form). "
                           + " ".join(table_notes(folder.results)), table=table1(folder.results), folded=True),
    ]
    if not folder.label_metrics.empty and "dice" in folder.label_metrics:
        sections.append(Section("Dice per label", "mean ± std over pairs.", table=label_table(folder.label_metrics),
                                folded=True))
    return sections + long


def write_report(results_dir: Path, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Read a results folder (checked: a damaged one is a
    :class:`~regbench.outputs.integrity.DamagedResults`), write ``report.md`` and
    ``report.html``, each whole or not at all; return their paths."""
    folder, means = in_report_order(ResultsFolder.read(results_dir))
    out_dir = out_dir or results_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    key = primary(folder.metric_columns)
    best = best_method(means.pairs, key, folder.methods) if key is not None else None
    viewer = write_viewer(folder, out_dir, folder.methods, shown=[m for m in (best, *FLOOR) if m is not None])
    return write_sections(build_sections(folder, means, out_dir / FIGURES_DIR, viewer), out_dir)


def write_sections(sections: list[Section], out_dir: Path) -> tuple[Path, Path]:
    """Write ``sections`` as ``report.md`` and ``report.html`` in ``out_dir``, each whole
    or not at all (one writer for the report of one folder and of several)."""
    markdown, page = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(markdown, to_markdown(sections, out_dir))
    atomic_write_text(page, to_html(sections))
    return markdown, page
