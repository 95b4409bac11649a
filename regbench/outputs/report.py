"""``regbench report``: tables and figures a researcher can publish from, built from a
results folder written by ``regbench run``.

Writes ``report.md`` (figures as PNG files beside it) and ``report.html``, a single
self-contained page with the figures embedded.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from regbench.common.atomic import atomic_write, atomic_write_text  # noqa: E402
from regbench.outputs import schema, seeds  # noqa: E402
from regbench.outputs.files import ResultsFolder  # noqa: E402
from regbench.outputs.tables import CONTENDED_MARK, marked_names, table1, table_notes  # noqa: E402
from regbench.plugin.metric import Column  # noqa: E402

FIGURES_DIR = "report_files"


def _summary_cell(column: Column, values: pd.Series, aggregate: str) -> str:
    if aggregate == "mean":
        return f"{values.mean():{column.format}} ± {values.std(ddof=0):{column.format}}"
    value = {"max": values.max(), "first": values.iloc[0]}[aggregate]
    return f"{value:{column.format}}"


def summary_table(results: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """One row per method: each metric column as mean ± std over pairs (and its robust
    quantile where declared, e.g. DSC30), then the time, memory and training columns,
    and the share of the CPU other processes used while it was timed (‡: contended); a
    method trained on a budget that ended before it converged is marked †. With several
    seeds, a pair's value is its mean over seeds (the spread across seeds is
    :func:`regbench.outputs.seeds.spread_table`'s)."""
    rows, names = {}, marked_names(results)
    for method, group in seeds.pair_means(results).groupby("method", sort=False):
        ok = group[group["status"] == schema.OK]
        row: dict[str, object] = {}
        summarised = [(column, "mean") for column in columns]
        summarised += [(column, column.aggregate) for column in schema.SUMMARISED]
        for column, aggregate in summarised:
            values = ok[column.result_column].dropna() if column.result_column in ok else pd.Series(dtype=float)
            row[column.heading] = _summary_cell(column, values, aggregate) if len(values) else None
            if column.robust is not None:
                quantile, heading = column.robust
                row[heading] = f"{np.quantile(values, quantile):{column.format}}" if len(values) else None
        share = schema.contention(ok)
        row["CPU used by others"] = (f"{share:.0%}{CONTENDED_MARK if share > schema.CONTENTION_LIMIT else ''}"
                                     if share == share else None)  # NaN: not measured
        row["pairs ok"] = f"{len(ok)} of {len(group)}"
        rows[names[method]] = row
    table = pd.DataFrame(rows).T.dropna(axis=1, how="all").fillna("-")
    table.index.name = "method"
    return table


# What each metric family's values follow (Column.family); a family not listed is shown by its name.
FAMILIES = {
    "common": "computed as most papers do, e.g. VoxelMorph, TransMorph, MedPy",
    "learn2reg": "exactly as the Learn2Reg challenge's evaluation, comparable with its tables",
}


def families_text(columns: Sequence[Column]) -> str:
    """Which family each metric column belongs to, e.g. "Metric families: common
    (computed as most papers do, ...): Dice, HD95 (mm); learn2reg (...): L2R Dice." """
    by_family: dict[str, list[str]] = {}
    for column in columns:
        by_family.setdefault(column.family or "unstated", []).append(column.heading)
    parts = [f"{family} ({FAMILIES[family]}): {', '.join(headings)}" if family in FAMILIES
             else f"{family}: {', '.join(headings)}" for family, headings in by_family.items()]
    return f"Metric families: {'; '.join(parts)}." if parts else ""


def label_table(label_metrics: pd.DataFrame, metric: str = "dice") -> pd.DataFrame:
    """Mean ± std over pairs of a per-label metric: labels as rows, methods as columns."""
    grouped = label_metrics.groupby(["label", "method"], sort=False)[metric]
    cells = grouped.mean().map("{:.4f}".format) + " ± " + grouped.std(ddof=0).map("{:.4f}".format)
    table = cells.unstack("method")
    order = label_metrics.drop_duplicates("label").sort_values("label_id")["label"]
    return table.loc[order]


def wilcoxon_table(results: pd.DataFrame, metric: str = "dice_mean") -> pd.DataFrame:
    """Two-sided Wilcoxon signed-rank p-values between methods, paired over test pairs
    (with several seeds, each pair's mean over seeds)."""
    results = seeds.pair_means(results)
    wide = results[results["status"] == schema.OK].pivot(index="pair", columns="method", values=metric)
    methods = list(dict.fromkeys(results["method"]))
    table = pd.DataFrame("-", index=methods, columns=methods, dtype=object)
    for a, b in combinations([m for m in methods if m in wide], 2):
        both = wide[[a, b]].dropna()
        if len(both) < 2 or np.allclose(both[a], both[b]):
            continue
        p = stats.wilcoxon(both[a], both[b]).pvalue
        table.loc[a, b] = table.loc[b, a] = f"{p:.2e}"
    return table


def _save(figure: plt.Figure, path: Path) -> Path:
    """Write ``figure`` whole or not at all (its format chosen by the extension, which the partial file keeps)."""
    atomic_write(path, lambda partial: figure.savefig(partial, dpi=110, bbox_inches="tight"))
    plt.close(figure)
    return path


def dice_box_plots(folder: ResultsFolder, out: Path) -> list[Path]:
    """Dice per method (per pair; with several seeds each pair's mean over seeds, and one
    dot per seed at its mean over pairs) and per label."""
    means = seeds.pair_means(folder.results)
    ok = means[means["status"] == schema.OK]
    paths = []
    figure, axis = plt.subplots(figsize=(1.4 * len(folder.methods) + 2, 4))
    data = [ok.loc[ok["method"] == m, "dice_mean"].dropna() for m in folder.methods]
    axis.boxplot(data, tick_labels=folder.methods)
    if seeds.repeated(folder.results):
        dots = seeds.per_seed(folder.results, "dice_mean")
        for position, method in enumerate(folder.methods, start=1):
            values = dots.loc[dots["method"] == method, "value"]
            axis.scatter(np.full(len(values), position + 0.25), values, color="tab:red", s=14, zorder=3,
                         label="mean over pairs, one dot per seed" if position == 1 else None)
        axis.legend(fontsize="small")
    axis.set_ylabel("Dice (mean over labels, per pair)")
    axis.set_title("Dice per method")
    axis.tick_params(axis="x", rotation=20)
    paths.append(_save(figure, out / "dice_per_method.png"))
    if not folder.label_metrics.empty and "dice" in folder.label_metrics:
        labels = folder.label_metrics.drop_duplicates("label").sort_values("label_id")["label"].tolist()
        width = 0.8 / len(folder.methods)
        figure, axis = plt.subplots(figsize=(max(6, 1.2 * len(labels) * max(1, len(folder.methods) / 3)), 4))
        for index, method in enumerate(folder.methods):
            rows = folder.label_metrics[folder.label_metrics["method"] == method]
            values = [rows.loc[rows["label"] == label, "dice"].dropna() for label in labels]
            positions = np.arange(len(labels)) + (index - (len(folder.methods) - 1) / 2) * width
            parts = axis.boxplot(values, positions=positions, widths=width * 0.9, patch_artist=True, manage_ticks=False)
            for box in parts["boxes"]:
                box.set_facecolor(plt.cm.tab10(index % 10))
            axis.plot([], [], color=plt.cm.tab10(index % 10), linewidth=8, label=method)
        axis.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right")
        axis.set_ylabel("Dice")
        axis.set_title("Dice per label")
        axis.legend(fontsize="small", ncol=min(len(folder.methods), 4))
        paths.append(_save(figure, out / "dice_per_label.png"))
    return paths


def qualitative_figure(folder: ResultsFolder, out: Path) -> Path | None:
    """Like the paper's Fig. 5: fixed, moving, and per method the warped image, the
    deformation as a grid, and the Jacobian determinant."""
    snapshot = folder.snapshot
    methods = [m for m in folder.methods if f"warped/{m}" in snapshot]
    if not methods:
        return None
    figure, axes = plt.subplots(3, len(methods) + 1, figsize=(2.6 * (len(methods) + 1), 8.4), squeeze=False)
    show = lambda axis, image, **kw: axis.imshow(np.rot90(image), **kw)  # noqa: E731
    show(axes[0, 0], snapshot["fixed"], cmap="gray")
    axes[0, 0].set_title("fixed")
    show(axes[1, 0], snapshot["moving"], cmap="gray")
    axes[1, 0].set_title("moving")
    axes[2, 0].axis("off")
    colorbar_axis = axes[2, 0].inset_axes([0.45, 0.05, 0.12, 0.9])
    for column, method in enumerate(methods, start=1):
        show(axes[0, column], snapshot[f"warped/{method}"], cmap="gray")
        axes[0, column].set_title(method)
        displacement = snapshot[f"displacement/{method}"]
        shape = displacement.shape[1:]
        grid = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float) + displacement
        axis = axes[1, column]
        step = max(1, min(shape) // 24)
        # Images are shown rotated (np.rot90): axis 0 runs left to right, axis 1 bottom to top.
        for lines in (grid[:, ::step, :], grid[:, :, ::step].transpose(0, 2, 1)):
            for along0, along1 in zip(*lines):
                axis.plot(along0, along1, color="tab:blue", linewidth=0.5)
        axis.set_xlim(0, shape[0] - 1)
        axis.set_ylim(0, shape[1] - 1)
        axis.set_aspect("equal")
        axis.set_title("deformation grid", fontsize="small")
        jacobian = show(axes[2, column], snapshot[f"jacobian/{method}"], cmap="RdBu_r", vmin=0, vmax=2)
        axes[2, column].set_title("det J", fontsize="small")
    figure.colorbar(jacobian, cax=colorbar_axis, label="det J (≤ 0: folding)")
    for axis in axes.ravel():
        if axis is not axes[2, 0]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(f"pair {snapshot['pair']}")
    return _save(figure, out / "qualitative.png")


def runtime_memory_chart(folder: ResultsFolder, out: Path) -> Path | None:
    """Seconds and memory per method; None for results that timed nothing (``regbench evaluate``)."""
    ok = folder.ok
    if ok["seconds"].isna().all() or not ({"rss_increase_mb", "peak_rss_mb"} & set(ok)):
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    seconds = ok.groupby("method", sort=False)["seconds"].mean().reindex(folder.methods)
    left.bar(seconds.index, seconds.values, color="tab:blue")
    left.set_yscale("log")
    left.set_ylabel("seconds per pair (log)")
    left.set_title("runtime")
    column = "rss_increase_mb" if "rss_increase_mb" in ok else "peak_rss_mb"
    memory = ok.groupby("method", sort=False)[column].max().reindex(folder.methods)
    right.bar(memory.index, memory.values, color="tab:orange")
    right.set_ylabel("RSS increase while registering (MiB)" if column == "rss_increase_mb"
                     else "peak process RSS while registering (MiB)")
    right.set_title("memory")
    for axis in (left, right):
        axis.tick_params(axis="x", rotation=30)
    return _save(figure, out / "runtime_memory.png")


def _devices_text(ok: pd.DataFrame) -> str:
    """Where the methods registered, e.g. ``cpu`` or ``cuda: NVIDIA H200 (vxm1, eca-unet), cpu (ants-syn)``."""
    if "device" not in ok:
        return "device not recorded"
    by_device = ok.groupby("device", sort=False)["method"].unique()
    if len(by_device) == 1:
        return str(by_device.index[0])
    return ", ".join(f"{device} ({', '.join(methods)})" for device, methods in by_device.items())


def accuracy_speed_figure(folder: ResultsFolder, out: Path) -> tuple[Path, str] | None:
    """Accuracy against speed, one point per method (or variant): mean Dice (and, beside
    it, mean HD95) against the median seconds per pair on a log axis; error bars give the
    spread across pairs (the seconds' quartiles, the metric's std) and, with several
    seeds, the std across seeds (thicker). None when nothing was timed."""
    means = seeds.pair_means(folder.results)
    ok = means[means["status"] == schema.OK]
    if ok["seconds"].isna().all() or "dice_mean" not in ok:
        return None
    panels = [("dice_mean", "mean Dice (higher is better)")]
    if "hd95_mean" in ok and ok["hd95_mean"].notna().any():
        panels.append(("hd95_mean", "mean HD95 in mm (lower is better)"))
    several = seeds.repeated(folder.results)
    figure, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.4), squeeze=False)
    for axis, (column, label) in zip(axes[0], panels, strict=True):
        across = seeds.spread(folder.results, column) if several else None
        for index, method in enumerate(folder.methods):
            rows = ok[ok["method"] == method]
            seconds, values = rows["seconds"].dropna(), rows[column].dropna()
            if seconds.empty or values.empty:
                continue
            x = seconds.median()
            xerr = [[x - seconds.quantile(0.25)], [seconds.quantile(0.75) - x]]
            colour = plt.cm.tab10(index % 10)
            axis.errorbar(x, values.mean(), xerr=xerr, yerr=values.std(ddof=0), fmt="o", color=colour,
                          capsize=3, linewidth=1, label=method)
            if across is not None and across.at[method, "seeds"] > 1:
                axis.errorbar(x, values.mean(), yerr=across.at[method, "std"], fmt="none", color=colour,
                              linewidth=3.5, alpha=0.6)
        axis.set(xscale="log", xlabel="seconds per pair (median; bars: quartiles)", ylabel=label)
        axis.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 0.2, 0.5, 1, 2 s: labels that never overlap
        axis.xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: f"{seconds:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend(fontsize="small")
    spread = ("thin bars: std across pairs; thick: std across seeds" if several else "bars: std across pairs")
    caption = f"Measured on {_devices_text(ok)}; {spread}."
    figure.suptitle("Accuracy against speed")
    return _save(figure, out / "accuracy_speed.png"), caption


def training_figure(folder: ResultsFolder, out: Path) -> Path | None:
    """The training loss per step and, beside it, the validation score at each evaluation
    (mean Dice, or the image MSE for data without labels), one line per method."""
    training = folder.training
    if training.empty:
        return None
    validated = training.dropna(subset=["val_dice"]) if "val_dice" in training else training.iloc[:0]
    score = "val_dice"
    if validated.empty and "val_mse" in training:
        validated, score = training.dropna(subset=["val_mse"]), "val_mse"
    panels = 2 if not validated.empty else 1
    figure, axes = plt.subplots(1, panels, figsize=(7 * panels, 3.6), squeeze=False)
    colours = {method: plt.cm.tab10(index % 10) for index, method in enumerate(dict.fromkeys(training["method"]))}
    for (method, _), curve in _curves(training):
        axes[0, 0].plot(curve["step"], curve["loss"], label=method, linewidth=1, color=colours[method])
    axes[0, 0].set(yscale="log", xlabel="training step", ylabel="loss", title="training loss")
    _legend(axes[0, 0])
    if panels == 2:
        right = axes[0, 1]
        for (method, _), curve in _curves(validated):
            right.plot(curve["step"], curve[score], marker="o", markersize=3, label=method, linewidth=1,
                       color=colours[method])
        right.set(xlabel="training step", ylabel="mean Dice" if score == "val_dice" else "image MSE",
                  title="validation (held-out training subjects)")
        _legend(right)
    return _save(figure, out / "training_loss.png")


def _curves(training: pd.DataFrame) -> list[tuple[tuple[str, object], pd.DataFrame]]:
    """The curves of ``training``, one per method and seed (one colour per method)."""
    if "seed" not in training or training["seed"].isna().all():
        return [((method, None), curve) for method, curve in training.groupby("method", sort=False)]
    return list(training.groupby(["method", "seed"], sort=False))


def _legend(axis: plt.Axes) -> None:
    """A legend naming each method once, whatever its number of seeds."""
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axis.legend(unique.values(), unique.keys())


def _training_text(run_info: dict) -> str:
    """The profile's settings as run, e.g. " (steps=250, lr=0.001, until=budget, ...)"."""
    settings = {key: value for key, value in run_info.get("training", {}).items()
                if key != "name" and value is not None}
    return f" ({', '.join(f'{key}={value}' for key, value in settings.items())})" if settings else ""


def _seeds_text(run_info: dict) -> str:
    """``seed 0``, or ``seeds 0, 1, 2 (identity run once: deterministic)``."""
    several = run_info.get("seeds") or [run_info.get("seed", "?")]
    text = f"seed{'s' if len(several) > 1 else ''} {', '.join(map(str, several))}"
    once = run_info.get("run_once") or []
    return text + (f" ({', '.join(once)} run once: deterministic)" if once else "")


@dataclass
class Section:
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    figure: Path | None = None


def _spread_sections(folder: ResultsFolder) -> list[Section]:
    """With several seeds: each metric's spread across seeds (see :mod:`regbench.outputs.seeds`)."""
    if not seeds.repeated(folder.results):
        return []
    once = folder.run_info.get("run_once", [])
    text = ("Each method's mean over pairs, computed per seed: the mean over seeds ± the sample std across "
            "seeds. A difference between two methods smaller than these spreads is not a ranking."
            + (f" Run once, their results not depending on the seed: {', '.join(once)}." if once else ""))
    table = seeds.spread_table(folder.results, folder.metric_columns, once)
    return [Section("Across seeds", text, table=table)]


def build_sections(folder: ResultsFolder, figures_dir: Path) -> list[Section]:
    figures_dir.mkdir(parents=True, exist_ok=True)
    info = folder.run_info
    n_pairs = folder.results["pair"].nunique()
    sections = [
        Section("Run", f"dataset `{info.get('dataset', '?')}`, {n_pairs} test pairs, {_seeds_text(info)}, "
                       f"profile `{info.get('profile', '?')}`{_training_text(info)}; "
                       f"command: `{info.get('command', '?')}`"),
        Section("Summary", "Each metric as mean ± std over pairs (with several seeds, of each pair's mean over "
                           "seeds; and, where a metric declares one, a robust "
                           "quantile over pairs, e.g. L2R DSC30), then time, memory and training. "
                           + " ".join([families_text(folder.metric_columns), *table_notes(folder.results)]),
                table=summary_table(folder.results, folder.metric_columns)),
        *_spread_sections(folder),
        Section("Table 1", "Dice per test pair, mean ± std over labels (the reference paper's form). "
                           + " ".join(table_notes(folder.results)), table=table1(folder.results)),
    ]
    if not folder.label_metrics.empty and "dice" in folder.label_metrics:
        sections.append(Section("Dice per label", "mean ± std over pairs.", table=label_table(folder.label_metrics)))
    sections.append(Section("Paired comparison", "Two-sided Wilcoxon signed-rank test of per-pair Dice between "
                                                 "methods (p-values).", table=wilcoxon_table(folder.results)))
    box_plots = dice_box_plots(folder, figures_dir)
    sections += [Section(title, figure=path) for title, path in zip(["Dice per method", "Dice per label (plot)"], box_plots)]
    qualitative = qualitative_figure(folder, figures_dir)
    if qualitative:
        sections.append(Section("Qualitative comparison", "Warped images, deformation grids and Jacobian determinants "
                                                          "for one pair (middle slice in 3D).", figure=qualitative))
    pareto = accuracy_speed_figure(folder, figures_dir)
    if pareto:
        sections.append(Section("Accuracy and speed", "Each method's mean accuracy against its median seconds "
                                                      f"per pair (log axis). {pareto[1]}", figure=pareto[0]))
    runtime = runtime_memory_chart(folder, figures_dir)
    if runtime:
        sections.append(Section("Runtime and memory", figure=runtime))
    training = training_figure(folder, figures_dir)
    if training:
        sections.append(Section("Training", figure=training))
    return sections


def to_markdown(sections: list[Section], base: Path) -> str:
    parts = ["# regbench report\n"]
    for section in sections:
        parts.append(f"## {section.title}\n")
        if section.text:
            parts.append(section.text + "\n")
        if section.table is not None:
            parts.append(section.table.to_markdown() + "\n")
        if section.figure is not None:
            parts.append(f"![{section.title}]({section.figure.relative_to(base).as_posix()})\n")
    return "\n".join(parts)


def to_html(sections: list[Section]) -> str:
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
             "th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:right}th{background:#f3f3f3}"
             "img{max-width:100%}code{background:#f3f3f3;padding:0 0.2em}")
    body = ["<h1>regbench report</h1>"]
    for section in sections:
        body.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.text:
            text = html.escape(section.text)
            parts = text.split("`")
            text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
            body.append(f"<p>{text}</p>")
        if section.table is not None:
            body.append(section.table.to_html(border=0))
        if section.figure is not None:
            data = base64.b64encode(section.figure.read_bytes()).decode()
            body.append(f'<img alt="{html.escape(section.title)}" src="data:image/png;base64,{data}">')
        body.append("</section>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>regbench report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(results_dir: Path, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Read a results folder (checked: a damaged one is a
    :class:`~regbench.outputs.integrity.DamagedResults`), write ``report.md`` and
    ``report.html``, each whole or not at all; return their paths."""
    folder = ResultsFolder.read(results_dir)
    out_dir = out_dir or results_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = build_sections(folder, out_dir / FIGURES_DIR)
    markdown, page = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(markdown, to_markdown(sections, out_dir))
    atomic_write_text(page, to_html(sections))
    return markdown, page
