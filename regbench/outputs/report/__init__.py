"""``regbench report``: tables and figures a researcher can publish from, built from a
results folder written by ``regbench run`` (or ``regbench evaluate``).

Writes ``report.md`` (figures as PNG files beside it) and ``report.html``, a single
self-contained page with the figures embedded. Its parts: :mod:`.summary` (the tables
and statistics), :mod:`.figures`, :mod:`.render` (Markdown and HTML) and :mod:`.build`
(what the report says, in order, and writing it). Several folders, one per dataset, make
one combined report: :mod:`.datasets` (ranks and wins across datasets) and :mod:`.combined`.
"""

from regbench.outputs.report.build import FIGURES_DIR, build_sections, write_report
from regbench.outputs.report.combined import write_combined_report
from regbench.outputs.report.datasets import SameDataset
from regbench.outputs.report.summary import summary_table

__all__ = ["FIGURES_DIR", "SameDataset", "build_sections", "summary_table", "write_combined_report", "write_report"]
