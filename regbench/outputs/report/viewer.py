"""The pair viewer: one HTML page, beside report.html, where a reader picks a test pair
and two methods and sees the pair as each method left it.

Built from the run's ``previews.npz`` (:func:`regbench.outputs.nifti.write_previews`:
every pair's middle slice, at most 96 voxels a side, each method's first seed). The
images are PNGs drawn by matplotlib (the deformation grid by the report's own
:func:`~regbench.outputs.report.figures.deformation_grid`, det J in the qualitative
figure's colours) and embedded as ``data:`` URIs with the metrics as JSON: the page needs
no server, no network and no other file. Its script is glue only: it sorts the table of
pairs and swaps the images' sources.

Per pair: fixed, moving and moving − fixed; per method shown: the warped image, warped −
fixed, a checkerboard of fixed and warped, the deformation grid and det J, and the pair's
metrics for both methods. Grey levels span the pair's fixed and moving images; the
differences share one symmetric scale per pair (the largest |moving − fixed|), so a
method that registers the pair fades its difference to white.

The page grows as pairs × methods × 5 PNGs of at most 96² pixels (the grid's 192²), each
in 256 colours or fewer: 60 pairs × 7 methods of 80 × 96 make a page of 14.7 MiB,
written in about 10 s on 2 CPU cores (``python benchmarks/preview_viewer_scale.py``),
most of it drawing the 420 grids.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from PIL import Image

from regbench.common.atomic import atomic_write_text
from regbench.outputs import schema
from regbench.outputs.files import ResultsFolder
from regbench.outputs.nifti import preview_key
from regbench.outputs.report.figures import JACOBIAN_COLOURS, deformation_grid, grid_lines, judged, plt
from regbench.plugin.metric import Column

VIEWER_FILE = "viewer.html"
PANELS = ("warped", "diff", "checker", "grid", "jacobian")  # a method's images, in the page's order
DIFFERENCE_COLOURS = "PuOr_r"  # diverging, and unlike det J's
GRID_SCALE = 2  # the grid is drawn at twice the preview's pixels: its lines stay lines


def _uri(image: Image.Image) -> str:
    """``image`` as a PNG ``data:`` URI."""
    buffer = io.BytesIO()
    image.save(buffer, format="png", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _png(image: np.ndarray, cmap: str, vmin: float, vmax: float) -> str:
    """``image`` (2D, as stored) as a PNG ``data:`` URI, one pixel per voxel, rotated as
    the report shows images, in matplotlib's colour map ``cmap`` from ``vmin`` to
    ``vmax``: what ``plt.imsave`` draws, as 256 colours indexed (a quarter of its RGBA
    bytes; the page holds thousands of these)."""
    levels = (np.asarray(image, dtype=np.float64) - vmin) / (vmax - vmin)
    index = np.round(np.clip(np.nan_to_num(np.rot90(levels)), 0, 1) * 255).astype(np.uint8)
    indexed = Image.frombytes("P", (index.shape[1], index.shape[0]), np.ascontiguousarray(index).tobytes())
    palette = matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3]
    indexed.putpalette((palette * 255).round().astype(np.uint8).tobytes())
    return _uri(indexed)


class _GridPainter:
    """Deformation grids as PNG ``data:`` URIs, in 16 colours (blue lines on white need no
    more). One figure per preview shape, drawn by the report's
    :func:`~regbench.outputs.report.figures.deformation_grid` once; each later grid of that
    shape moves its lines to the new field's (:func:`~regbench.outputs.report.figures.grid_lines`),
    the same picture as drawing it afresh at a fraction of the cost."""

    def __init__(self) -> None:
        self._figures: dict[tuple[int, ...], tuple[plt.Figure, plt.Axes]] = {}

    def __call__(self, displacement: np.ndarray) -> str:
        displacement = np.asarray(displacement, dtype=np.float32)
        shape = displacement.shape[1:]
        if shape in self._figures:
            figure, axis = self._figures[shape]
            for line, (along0, along1) in zip(axis.lines, grid_lines(displacement), strict=True):
                line.set_data(along0, along1)
        else:
            dpi = 100
            figure = plt.figure(figsize=(GRID_SCALE * shape[0] / dpi, GRID_SCALE * shape[1] / dpi), dpi=dpi,
                                facecolor="white")
            axis = figure.add_axes((0, 0, 1, 1))
            deformation_grid(axis, displacement, linewidth=0.6)
            axis.set_axis_off()
            self._figures[shape] = (figure, axis)
        figure.canvas.draw()
        pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]
        return _uri(Image.fromarray(pixels).quantize(16))

    def close(self) -> None:
        for figure, _ in self._figures.values():
            plt.close(figure)


def _checkerboard(fixed: np.ndarray, warped: np.ndarray) -> np.ndarray:
    """Fixed and warped in alternate squares (8 along the longer side), laid out as the
    image is shown (rotated), so the squares are squares on the page."""
    fixed, warped = np.rot90(fixed), np.rot90(warped)
    tile = max(1, -(-max(fixed.shape) // 8))
    rows, columns = np.indices(fixed.shape) // tile
    return np.rot90(np.where((rows + columns) % 2 == 0, fixed, warped), -1)


def _pair_images(previews: Mapping[str, np.ndarray], pair: str) -> tuple[dict[str, str], dict[str, Any]] | None:
    """The pair's own images (fixed, moving, moving − fixed) and the scales its methods'
    images share; None when no method has a preview of the pair."""
    if preview_key("fixed", pair) not in previews:
        return None
    fixed = previews[preview_key("fixed", pair)].astype(np.float32)
    moving = previews[preview_key("moving", pair)].astype(np.float32)
    both = np.concatenate([fixed.ravel(), moving.ravel()])
    both = both[np.isfinite(both)]
    low, high = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    spread = float(np.nanmax(np.abs(moving - fixed))) if np.isfinite(moving - fixed).any() else 0.0
    scales = {"grey": {"cmap": "gray", "vmin": low, "vmax": high if high > low else low + 1},
              "diff": {"cmap": DIFFERENCE_COLOURS, "vmin": -(spread or 1.0), "vmax": spread or 1.0},
              "fixed": fixed}
    images = {"fixed": _png(fixed, **scales["grey"]), "moving": _png(moving, **scales["grey"]),
              "before": _png(moving - fixed, **scales["diff"])}
    return images, scales


def _method_images(previews: Mapping[str, np.ndarray], pair: str, method: str, scales: Mapping[str, Any],
                   grid: _GridPainter) -> dict[str, str] | None:
    """One method's images of one pair (:data:`PANELS`); None without its preview (a failed pair)."""
    if preview_key("warped", pair, method) not in previews:
        return None
    warped = previews[preview_key("warped", pair, method)].astype(np.float32)
    fixed = scales["fixed"]
    return {"warped": _png(warped, **scales["grey"]),
            "diff": _png(warped - fixed, **scales["diff"]),
            "checker": _png(_checkerboard(fixed, warped), **scales["grey"]),
            "grid": grid(previews[preview_key("displacement", pair, method)]),
            "jacobian": _png(previews[preview_key("jacobian", pair, method)], **JACOBIAN_COLOURS)}


def _main_columns(columns: Sequence[Column]) -> list[Column]:
    """The columns of the table of pairs: those the run is judged by (Dice in a default
    run), else the first with a direction, else the first."""
    return judged(columns) or [column for column in columns if column.better is not None][:1] or list(columns[:1])


def _number(value: object) -> float | None:
    """A cell as a JSON number; None for a missing one (NaN, infinite, not a number)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(value: object, spec: str) -> str:
    number = _number(value)
    if number is None:
        return "inf" if isinstance(value, float) and math.isinf(value) else "–"
    try:
        return format(number, spec)
    except ValueError:
        return f"{number:g}"


def _metrics(row: pd.Series | None, columns: Sequence[Column], main: Sequence[Column]) -> dict[str, Any]:
    """One method's row of one pair, for the page: its status, the main columns' numbers
    (for sorting) and every column as text."""
    if row is None:
        return {"status": "not run", "sort": [None] * len(main), "text": ["–"] * len(columns)}
    error = row.get("error")
    status = "ok" if row.get("status") == schema.OK else f"failed: {error if isinstance(error, str) else ''}"
    return {"status": status,
            "sort": [_number(row.get(column.result_column)) for column in main],
            "text": [_text(row.get(column.result_column), column.format) for column in columns]}


def _heading(column: Column) -> str:
    return f"{column.heading} {'↑' if column.better == 'higher' else '↓'}" if column.better else column.heading


def viewer_data(folder: ResultsFolder, methods: Sequence[str], shown: Sequence[str] = ()) -> dict[str, Any] | None:
    """What the page shows, as JSON: the methods, the two shown first (``shown``, where
    they ran; else the first and last of ``methods``), the table's columns, and per pair
    its images and each method's images and metrics; None without previews."""
    previews = folder.previews
    methods = [method for method in dict.fromkeys(methods) if method in set(folder.results["method"])]
    if not previews or not methods:
        return None
    columns = [column for column in folder.metric_columns if column.result_column in folder.results]
    columns += [column for column in schema.SUMMARISED[:1] if column.name in folder.results]  # seconds per pair
    main = _main_columns([column for column in columns if column.name not in {c.name for c in schema.SUMMARISED}])
    # One row per method and pair: its first seed's, the one previewed (results run pair, method, seed).
    rows = folder.results.drop_duplicates(["method", "pair"], keep="first").set_index(["method", "pair"])
    grid = _GridPainter()
    pairs = []
    try:
        for pair in dict.fromkeys(folder.results["pair"].astype(str)):
            own = _pair_images(previews, pair)
            entry: dict[str, Any] = {"id": pair, "images": own[0] if own else None, "methods": {}}
            for method in methods:
                row = rows.loc[(method, pair)] if (method, pair) in rows.index else None
                images = _method_images(previews, pair, method, own[1], grid) if own else None
                entry["methods"][method] = {"images": images, **_metrics(row, columns, main)}
            pairs.append(entry)
    finally:
        grid.close()
    first = [*dict.fromkeys([*(method for method in shown if method in methods), methods[0], methods[-1]]), methods[0]]
    return {"methods": methods, "a": first[0], "b": first[1],
            "main": [{"heading": column.heading, "better": column.better} for column in main],
            "columns": [_heading(column) for column in columns],
            "seeded": bool(folder.results["seed"].nunique() > 1) if "seed" in folder.results else False,
            "pairs": pairs}


def write_viewer(folder: ResultsFolder, out_dir: Path, methods: Sequence[str],
                 shown: Sequence[str] = ()) -> Path | None:
    """Write ``viewer.html`` into ``out_dir`` (whole or not at all) and return its path;
    None when ``folder`` holds no previews (a run from before they were kept). Methods A
    and B are first ``shown`` (e.g. the best method and the floor; else the first and the
    last of ``methods``); both selects list ``methods`` in the order given."""
    data = viewer_data(folder, methods, shown)
    if data is None:
        return None
    title = f"Pair viewer: {folder.run_info.dataset or folder.path.name}"
    # "<" escaped: no id or error text can end the script element, or open a comment in it.
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    path = out_dir / VIEWER_FILE
    before, after = PAGE.split("{{data}}")
    atomic_write_text(path, before.replace("{{title}}", html.escape(title)) + payload + after)
    return path


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 12px; max-width: 1236px; color: #222; }
h1 { font-size: 20px; margin: 0 0 8px; }
.controls { display: flex; flex-wrap: wrap; gap: 16px; align-items: center; margin-bottom: 10px; }
select { max-width: 300px; font-size: 14px; }
.top, .main { display: flex; gap: 16px; align-items: flex-start; }
.pairs { width: 600px; max-height: 250px; overflow: auto; border: 1px solid #ccc; flex: none; }
table { border-collapse: collapse; }
th, td { padding: 2px 6px; border-bottom: 1px solid #ddd; text-align: right; font-size: 13px; }
th:first-child, td:first-child { text-align: left; }
th { overflow-wrap: anywhere; max-width: 150px; }
.pairs th { position: sticky; top: 0; background: #eee; cursor: pointer; user-select: none; }
.pairs td:first-child { white-space: nowrap; }
.pairs tbody tr { cursor: pointer; }
.pairs tbody tr:hover td { background: #f4f4f4; }
.pairs tr.selected td { background: #ffe9a8; }
#metrics { width: 320px; flex: none; }
#metrics td:first-child { overflow-wrap: anywhere; }
.images { display: flex; gap: 8px; }
figure { margin: 0; width: 150px; }
figure img { width: 150px; height: auto; image-rendering: pixelated; background: #f7f7f7; display: block; }
figcaption { font-size: 12px; color: #555; text-align: center; }
.method { display: flex; gap: 8px; align-items: flex-start; margin-top: 10px; }
.label { width: 90px; flex: none; overflow-wrap: anywhere; }
.label h2 { font-size: 14px; margin: 0; }
.note { font-size: 12px; color: #555; }
.failed { color: #b00; font-size: 12px; max-height: 150px; overflow: auto; margin: 4px 0; }
</style></head>
<body>
<h1>{{title}}</h1>
<div class="controls">
<label>pair <select id="pair"></select></label>
<label>method A <select id="method-a"></select></label>
<label>method B <select id="method-b"></select></label>
</div>
<div class="top">
<div class="pairs"><table id="pairs"><thead><tr id="pairs-head"></tr></thead><tbody id="pairs-body"></tbody>
</table></div>
<div class="images">
<figure><img id="img-fixed" alt="fixed"><figcaption>fixed</figcaption></figure>
<figure><img id="img-moving" alt="moving"><figcaption>moving</figcaption></figure>
<figure><img id="img-before" alt="moving minus fixed"><figcaption>moving − fixed</figcaption></figure>
</div>
</div>
<div class="main">
<div>
<div class="method" id="row-a"><div class="label"><h2 id="name-a"></h2><p class="failed" id="failed-a"></p></div>
<div class="images" id="images-a"></div></div>
<div class="method" id="row-b"><div class="label"><h2 id="name-b"></h2><p class="failed" id="failed-b"></p></div>
<div class="images" id="images-b"></div></div>
</div>
<table id="metrics"><thead><tr><th>this pair</th><th id="metrics-a"></th><th id="metrics-b"></th></tr></thead>
<tbody id="metrics-body"></tbody></table>
</div>
<p class="note">The middle slice of each pair, at most 96 voxels a side. Grey levels span the pair's fixed
and moving images; the differences (purple: darker than fixed, orange: brighter) share one scale, ± the
pair's largest |moving − fixed|, so a good registration fades to white; det J from 0 (blue) through 1
(white) to 2 (red), ≤ 0 folding. ↑: higher is better, ↓: lower is better. Click a column's heading to sort
the pairs by it, worst first (click again: best first); missing values sort last. Click a pair to show it.</p>
<script type="application/json" id="data">{{data}}</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const panels = [["warped", "warped"], ["diff", "warped − fixed"], ["checker", "checkerboard: fixed | warped"],
                ["grid", "deformation grid"], ["jacobian", "det J"]];
const $ = id => document.getElementById(id);
const state = {pair: 0, a: data.a, b: data.b, sort: null, worst: true};

function option(select, value, text) {
  const item = document.createElement("option");
  item.value = value; item.textContent = text; select.appendChild(item);
}
data.pairs.forEach((pair, index) => option($("pair"), index, pair.id));
for (const id of ["method-a", "method-b"]) data.methods.forEach(method => option($(id), method, method));

for (const side of ["a", "b"]) {
  for (const [panel, caption] of panels) {
    const figure = document.createElement("figure");
    const image = document.createElement("img");
    image.id = `img-${side}-${panel}`; image.alt = caption;
    const text = document.createElement("figcaption"); text.textContent = caption;
    figure.append(image, text); $(`images-${side}`).appendChild(figure);
  }
}

// The table of pairs: the pair, then each main column of each method.
const columns = [];
data.methods.forEach(method => data.main.forEach((column, index) => columns.push({method, index, ...column})));
function cell(row, text) { const item = document.createElement(row); item.textContent = text; return item; }
$("pairs-head").appendChild(cell("th", "pair"));
columns.forEach((column, index) => {
  const head = cell("th", `${column.method}: ${column.heading}`);
  head.dataset.column = index;
  head.title = column.better ? `${column.better} is better; click to sort` : "click to sort";
  head.addEventListener("click", () => sortBy(index));
  $("pairs-head").appendChild(head);
});
data.pairs.forEach((pair, index) => {
  const row = document.createElement("tr");
  row.dataset.pair = pair.id; row.dataset.index = index;
  row.appendChild(cell("td", pair.id));
  for (const column of columns) {
    const value = pair.methods[column.method].sort[column.index];
    row.appendChild(cell("td", value === null ? "–" : value.toPrecision(4)));
  }
  row.addEventListener("click", () => { state.pair = index; show(); });
  $("pairs-body").appendChild(row);
});

function sortBy(index) {
  state.worst = state.sort === index ? !state.worst : true;
  state.sort = index;
  const column = columns[index];
  const direction = (column.better === "lower" ? -1 : 1) * (state.worst ? 1 : -1);
  const value = row => data.pairs[row.dataset.index].methods[column.method].sort[column.index];
  const rows = Array.from($("pairs-body").rows);
  rows.sort((x, y) => {
    const [p, q] = [value(x), value(y)];
    if (p === null || q === null) return (p === null) - (q === null);
    return direction * (p - q) || x.dataset.index - y.dataset.index;
  });
  rows.forEach(row => $("pairs-body").appendChild(row));
  document.querySelectorAll("#pairs-head th").forEach(head => {
    head.textContent = head.textContent.replace(/ [▲▼]$/, "");
    if (head.dataset.column === String(index)) head.textContent += direction > 0 ? " ▲" : " ▼";
  });
}

function setImage(id, source) {
  if (source) $(id).src = source; else $(id).removeAttribute("src");
}

function show() {
  const pair = data.pairs[state.pair];
  $("pair").value = state.pair; $("method-a").value = state.a; $("method-b").value = state.b;
  for (const name of ["fixed", "moving", "before"]) setImage(`img-${name}`, pair.images && pair.images[name]);
  for (const [side, method] of [["a", state.a], ["b", state.b]]) {
    const shown = pair.methods[method];
    $(`name-${side}`).textContent = `${side.toUpperCase()}: ${method}`;
    for (const [panel] of panels) setImage(`img-${side}-${panel}`, shown.images && shown.images[panel]);
    $(`failed-${side}`).textContent = shown.status === "ok" ? "" : shown.status;
    $(`metrics-${side}`).textContent = `${side.toUpperCase()}: ${method}`;
  }
  const body = $("metrics-body"); body.replaceChildren();
  data.columns.forEach((heading, index) => {
    const row = document.createElement("tr");
    row.append(cell("td", heading), cell("td", pair.methods[state.a].text[index]),
               cell("td", pair.methods[state.b].text[index]));
    body.appendChild(row);
  });
  if (data.seeded) body.appendChild(cell("tr", "")).appendChild(cell("td", "the first seed's values, as previewed"));
  for (const row of $("pairs-body").rows) row.classList.toggle("selected", Number(row.dataset.index) === state.pair);
}

$("pair").addEventListener("change", event => { state.pair = Number(event.target.value); show(); });
$("method-a").addEventListener("change", event => { state.a = event.target.value; show(); });
$("method-b").addEventListener("change", event => { state.b = event.target.value; show(); });
if (columns.length) sortBy(0);  // method A's first main column, worst first
state.pair = Number($("pairs-body").rows[0].dataset.index);
show();
</script>
</body></html>
"""
