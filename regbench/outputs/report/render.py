"""A report's sections as Markdown (figures linked beside it) and as one HTML page that
needs no other file (figures embedded), whatever the sections say."""

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


def to_markdown(sections: list[Section], base: Path) -> str:
    """The report in Markdown, figures linked relative to ``base`` (the file's folder)."""
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
    """The report as one self-contained HTML page, figures embedded as PNG data."""
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
