"""The report's figures, each a PNG file written whole or not at all.

Which metric columns they plot is read from the columns' declarations (run.json), never
from their names, so a plugin's metric is plotted like a built-in one: each column the
gate judges (:func:`judged`: Dice in a default run) gets box plots per method and, with
one value per label, per label; columns that name a figure (:func:`grouped`: TRE and
the true error, folding and NDV) are its panels; the accuracy-against-speed figure plots one family's
label scores (:func:`label_scores`: Dice and HD95); across datasets, each judged column
gets a panel per dataset (:func:`dataset_box_plot`). With several seeds, a pair's value
is its mean over seeds, computed once by the caller (:class:`~regbench.outputs.seeds.SeedMeans`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from regbench.common.atomic import atomic_write  # noqa: E402
from regbench.outputs import schema, seeds  # noqa: E402
from regbench.outputs.files import ResultsFolder  # noqa: E402
from regbench.outputs.seeds import SeedMeans  # noqa: E402
from regbench.plugin.metric import Column  # noqa: E402


def judged(columns: Sequence[Column]) -> list[Column]:
    """The columns a run is judged by: a direction and a gate tolerance, as Dice (or a
    plugin's metric) declares; each gets its box plots."""
    return [column for column in columns if column.better is not None and column.tolerance is not None]


def label_scores(columns: Sequence[Column]) -> list[Column]:
    """The label scores (one value per label, with a direction) of the first family that
    has any: Dice and HD95 in a default run, without Learn2Reg's beside them, which are
    computed another way."""
    scores = [column for column in columns if column.per_label and column.better is not None]
    return [column for column in scores if column.family == scores[0].family]


def grouped(columns: Sequence[Column]) -> dict[str, list[Column]]:
    """The columns that name a figure (``Column.figure``), by figure, in declared order."""
    figures: dict[str, list[Column]] = {}
    for column in columns:
        if column.figure is not None:
            figures.setdefault(column.figure, []).append(column)
    return figures


def _save(figure: plt.Figure, path: Path) -> Path:
    """Write ``figure`` whole or not at all (its format chosen by the extension, which the partial file keeps)."""
    atomic_write(path, lambda partial: figure.savefig(partial, dpi=110, bbox_inches="tight"))
    plt.close(figure)
    return path


def _ok(means: SeedMeans) -> pd.DataFrame:
    return means.pairs[means.pairs["status"] == schema.OK]


def _boxes(axis: plt.Axes, ok: pd.DataFrame, column: Column, methods: Sequence[str]) -> None:
    """One box per method of ``column``'s per-pair values in ``ok``."""
    axis.boxplot([ok.loc[ok["method"] == m, column.result_column].dropna() for m in methods], tick_labels=methods)


def method_box_plot(column: Column, means: SeedMeans, methods: Sequence[str], out: Path) -> Path:
    """``column`` per method: a box of its per-pair values (with several seeds each pair's
    mean over seeds) and, with several seeds, one dot per seed at its mean over pairs."""
    figure, axis = plt.subplots(figsize=(1.4 * len(methods) + 2, 4))
    _boxes(axis, _ok(means), column, methods)
    if means.repeated:
        dots = seeds.per_seed(means.results, column.result_column)
        for position, method in enumerate(methods, start=1):
            values = dots.loc[dots["method"] == method, "value"]
            axis.scatter(np.full(len(values), position + 0.25), values, color="tab:red", s=14, zorder=3,
                         label="mean over pairs, one dot per seed" if position == 1 else None)
        axis.legend(fontsize="small")
    axis.set_ylabel(f"{column.heading} (mean over labels, per pair)" if column.per_label
                    else f"{column.heading} (per pair)")
    axis.set_title(f"{column.heading} per method")
    axis.tick_params(axis="x", rotation=20)
    return _save(figure, out / f"{column.name}_per_method.png")


def panel_box_plot(name: str, columns: Sequence[Column], means: SeedMeans, methods: Sequence[str],
                   out: Path) -> Path | None:
    """One figure of box plots side by side, a panel per column of ``columns`` that has
    values (each pair's value per method, with several seeds its mean over seeds);
    None when none has any (a dataset without landmarks has no TRE)."""
    ok = _ok(means)
    shown = [column for column in columns if column.result_column in ok and ok[column.result_column].notna().any()]
    if not shown:
        return None
    figure, axes = plt.subplots(1, len(shown), figsize=(len(shown) * (0.9 * len(methods) + 1.5), 4), squeeze=False)
    for axis, column in zip(axes[0], shown, strict=True):
        _boxes(axis, ok, column, methods)
        axis.set_title(f"{column.heading} ({column.better} is better)" if column.better else column.heading,
                       fontsize="medium")
        axis.tick_params(axis="x", rotation=30)
    figure.suptitle(f"{name.capitalize()}: per pair, per method")
    return _save(figure, out / f"{name}.png")


def dataset_box_plot(column: Column, pairs: Mapping[str, pd.DataFrame], methods: Sequence[str],
                     out: Path) -> Path | None:
    """``column`` per method, one panel per dataset: a box of its per-pair values (``pairs``:
    per dataset, one row per method × pair, with several seeds each pair's mean over seeds).
    Each panel shows the methods that ran there, in the order of ``methods`` and each in its
    colour across panels, so one method is found alike on every dataset; None when no
    dataset has values."""
    shown = {dataset: ok for dataset, frame in pairs.items()
             if column.result_column in (ok := frame[frame["status"] == schema.OK])
             and ok[column.result_column].notna().any()}
    if not shown:
        return None
    ran = {dataset: [m for m in methods if m in set(ok["method"])] for dataset, ok in shown.items()}
    colours = {method: plt.cm.tab20(index % 20) for index, method in enumerate(methods)}
    figure, axes = plt.subplots(1, len(shown), figsize=(sum(0.55 * len(r) + 1.2 for r in ran.values()) + 1, 4.2),
                                squeeze=False, gridspec_kw={"width_ratios": [len(r) + 1 for r in ran.values()]})
    for axis, (dataset, ok) in zip(axes[0], shown.items(), strict=True):
        parts = axis.boxplot([ok.loc[ok["method"] == m, column.result_column].dropna() for m in ran[dataset]],
                             tick_labels=ran[dataset], patch_artist=True, medianprops={"color": "black"})
        for box, method in zip(parts["boxes"], ran[dataset], strict=True):
            box.set_facecolor(colours[method])
        axis.set_title(dataset, fontsize="medium")
        axis.tick_params(axis="x", rotation=60)
    axes[0, 0].set_ylabel(f"{column.heading} (per pair; {column.better} is better)" if column.better
                          else f"{column.heading} (per pair)")
    figure.suptitle(f"{column.heading} per method, per dataset")
    return _save(figure, out / f"{column.name}_per_dataset.png")


def label_box_plot(column: Column, label_metrics: pd.DataFrame, methods: Sequence[str], out: Path) -> Path | None:
    """``column`` per label, one box per method; None when ``label_metrics`` lacks it."""
    if label_metrics.empty or column.name not in label_metrics:
        return None
    labels = label_metrics.drop_duplicates("label").sort_values("label_id")["label"].tolist()
    width = 0.8 / len(methods)
    figure, axis = plt.subplots(figsize=(max(6, 1.2 * len(labels) * max(1, len(methods) / 3)), 4))
    for index, method in enumerate(methods):
        rows = label_metrics[label_metrics["method"] == method]
        values = [rows.loc[rows["label"] == label, column.name].dropna() for label in labels]
        positions = np.arange(len(labels)) + (index - (len(methods) - 1) / 2) * width
        parts = axis.boxplot(values, positions=positions, widths=width * 0.9, patch_artist=True, manage_ticks=False)
        for box in parts["boxes"]:
            box.set_facecolor(plt.cm.tab10(index % 10))
        axis.plot([], [], color=plt.cm.tab10(index % 10), linewidth=8, label=method)
    axis.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right")
    axis.set_ylabel(column.heading)
    axis.set_title(f"{column.heading} per label")
    axis.legend(fontsize="small", ncol=min(len(methods), 4))
    return _save(figure, out / f"{column.name}_per_label.png")


JACOBIAN_COLOURS = {"cmap": "RdBu_r", "vmin": 0, "vmax": 2}  # det J: 1 white, folding (≤ 0) deep blue


def grid_lines(displacement: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The lines of the grid the in-plane ``displacement`` (2, H, W) deforms, every
    ``min(H, W) // 24``-th, each as its points' coordinates along axes 0 and 1: as many
    lines, of as many points, for every field of one shape."""
    shape = displacement.shape[1:]
    grid = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float) + displacement
    step = max(1, min(shape) // 24)
    return [(along0, along1) for lines in (grid[:, ::step, :], grid[:, :, ::step].transpose(0, 2, 1))
            for along0, along1 in zip(*lines)]


def deformation_grid(axis: plt.Axes, displacement: np.ndarray, linewidth: float = 0.5) -> None:
    """The in-plane ``displacement`` drawn on ``axis`` as a deformed grid (:func:`grid_lines`),
    oriented as images shown with ``np.rot90``."""
    # Images are shown rotated (np.rot90): axis 0 runs left to right, axis 1 bottom to top.
    for along0, along1 in grid_lines(displacement):
        axis.plot(along0, along1, color="tab:blue", linewidth=linewidth)
    shape = displacement.shape[1:]
    axis.set_xlim(0, shape[0] - 1)
    axis.set_ylim(0, shape[1] - 1)
    axis.set_aspect("equal")


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
        deformation_grid(axes[1, column], snapshot[f"displacement/{method}"])
        axes[1, column].set_title("deformation grid", fontsize="small")
        jacobian = show(axes[2, column], snapshot[f"jacobian/{method}"], **JACOBIAN_COLOURS)
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


def accuracy_speed_figure(columns: Sequence[Column], means: SeedMeans, methods: Sequence[str],
                          out: Path) -> tuple[Path, str] | None:
    """Accuracy against speed, one point per method (or variant), one panel per column of
    ``columns`` that has values: its mean against the median seconds per pair on a log
    axis; error bars give the spread across pairs (the seconds' quartiles, the metric's
    std) and, with several seeds, the std across seeds (thicker). None when nothing was
    timed."""
    ok = _ok(means)
    panels = [column for column in columns if column.result_column in ok and ok[column.result_column].notna().any()]
    if ok["seconds"].isna().all() or not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.4), squeeze=False)
    for axis, column in zip(axes[0], panels, strict=True):
        across = seeds.spread(means.results, column.result_column) if means.repeated else None
        for index, method in enumerate(methods):
            rows = ok[ok["method"] == method]
            seconds, values = rows["seconds"].dropna(), rows[column.result_column].dropna()
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
        axis.set(xscale="log", xlabel="seconds per pair (median; bars: quartiles)",
                 ylabel=f"mean {column.heading} ({column.better} is better)")
        axis.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 0.2, 0.5, 1, 2 s: labels that never overlap
        axis.xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: f"{seconds:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend(fontsize="small")
    spread = ("thin bars: std across pairs; thick: std across seeds" if means.repeated else "bars: std across pairs")
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
