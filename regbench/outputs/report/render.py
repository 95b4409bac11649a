"""A report's sections as Markdown (figures linked beside it) and as one HTML page that
needs no other file (figures embedded), whatever the sections say.

A table may carry an ``emphasis`` mask (its best values, in bold) and a header row of
column groups (two-level columns); a long section is ``folded``: in ``<details>``, open
on a click, in both the HTML page and the Markdown (which GitHub renders the same way).
The page fits a 1280 px wide window: cells do not wrap, headings do."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass
class Section:
    """One part of the report: a title, then any of a paragraph, a table and a figure."""

    title: str
    text: str = ""  # `code` in backticks
    table: pd.DataFrame | None = None
    figure: Path | None = None
    emphasis: pd.DataFrame | None = None  # same shape as ``table``: True where a cell is bold
    folded: bool = False
    link: str | None = None  # a page beside the report, relative to it


def _marked(table: pd.DataFrame, emphasis: pd.DataFrame | None, mark) -> pd.DataFrame:
    """``table`` as text, each cell through ``mark(text, bold)``."""
    text = table.astype(object).where(table.notna(), "-").astype(str)  # a missing value reads "-", never "nan"
    bold = emphasis.reindex_like(text).fillna(False) if emphasis is not None else text.map(lambda _: False)
    return pd.DataFrame({key: [mark(cell, flag) for cell, flag in zip(text[key], bold[key], strict=True)]
                         for key in text.columns}, index=text.index, columns=text.columns)


def markdown_table(section: Section) -> str:
    """The section's table in Markdown: best values in ``**bold**``, one header row (a
    column's own heading; Markdown has no row of groups), ``|`` escaped in cells and headings."""
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    table = _marked(section.table, section.emphasis,
                    lambda cell, bold: f"**{escape(cell)}**" if bold and cell != "-" else escape(cell))
    table.columns = (table.columns.get_level_values(-1) if isinstance(table.columns, pd.MultiIndex)
                     else table.columns).map(escape)
    table.index = table.index.map(escape)
    return table.to_markdown()


def html_table(section: Section) -> str:
    """The section's table in HTML: text escaped, best values in ``<strong>``, a header
    row of groups where the columns have two levels."""
    table = _marked(section.table, section.emphasis,
                    lambda cell, bold: f"<strong>{html.escape(cell)}</strong>" if bold and cell != "-"
                    else html.escape(cell))
    table.index = table.index.map(lambda name: html.escape(str(name)))
    table.columns = table.columns.map(lambda key: tuple(map(html.escape, map(str, key))) if isinstance(key, tuple)
                                      else html.escape(str(key)))
    return table.to_html(border=0, escape=False, sparsify=True, index_names=False)


def to_markdown(sections: list[Section], base: Path) -> str:
    """The report in Markdown, figures linked relative to ``base`` (the file's folder)."""
    parts = ["# regbench report\n"]
    for section in sections:
        parts.append(f"## {section.title}\n")
        if section.folded:
            parts.append(f"<details><summary>{html.escape(section.title)} (click to open)</summary>\n")
        if section.text:
            parts.append(section.text + "\n")
        if section.table is not None:
            parts.append(markdown_table(section) + "\n")
        if section.figure is not None:
            parts.append(f"![{section.title}]({section.figure.relative_to(base).as_posix()})\n")
        if section.link is not None:
            parts.append(f"[Open {section.link}]({section.link})\n")
        if section.folded:
            parts.append("</details>\n")
    return "\n".join(parts)


def to_html(sections: list[Section]) -> str:
    """The report as one self-contained HTML page, figures embedded as PNG data."""
    style = ("body{font-family:sans-serif;max-width:1240px;margin:1.5em auto;padding:0 0.5em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.8em}"
             "th,td{border:1px solid #ccc;padding:0.25em 0.4em;text-align:right}"
             "td,tbody th{white-space:nowrap}tbody th{text-align:left}th{background:#f3f3f3;vertical-align:bottom}"
             "thead tr:first-child th{text-align:center;background:#e6e6e6}"
             "details{margin:0.5em 0 1.5em}summary{cursor:pointer;color:#036}"
             "img{max-width:100%}code{background:#f3f3f3;padding:0 0.2em}p{max-width:75em}")
    body = ["<h1>regbench report</h1>"]
    for section in sections:
        body.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.folded:
            body.append(f"<details><summary>{html.escape(section.title)} (click to open)</summary>")
        if section.text:
            text = html.escape(section.text)
            parts = text.split("`")
            text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
            body.append(f"<p>{text}</p>")
        if section.table is not None:
            body.append(html_table(section))
        if section.figure is not None:
            data = base64.b64encode(section.figure.read_bytes()).decode()
            body.append(f'<img alt="{html.escape(section.title)}" src="data:image/png;base64,{data}">')
        if section.link is not None:
            body.append(f'<p><a href="{html.escape(section.link)}">Open {html.escape(section.link)}</a></p>')
        if section.folded:
            body.append("</details>")
        body.append("</section>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>regbench report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
