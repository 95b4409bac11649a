"""The report as a reader opens it: in headless Chromium at 1280 px, the widest committed
run (14 methods, every metric family) fits without horizontal scroll, the summary and
figures come before the long tables (folded), and the page asks the network for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import NETWORK_LOG, chromium_driver, requested_urls

from regbench.cli import main

WIDEST = Path(__file__).parents[2] / "reports" / "mni2d-modern"
PAGE_STATE = """return {
  width: window.innerWidth,
  scroll: document.documentElement.scrollWidth,
  headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
  firstImage: Array.from(document.querySelectorAll('h2, img')).findIndex(e => e.tagName === 'IMG'),
  firstFolded: Array.from(document.querySelectorAll('h2, details')).findIndex(e => e.tagName === 'DETAILS'),
  folded: Array.from(document.querySelectorAll('details')).map(d => [d.open, d.querySelector('summary').textContent]),
  bold: Array.from(document.querySelectorAll('table')[0].querySelectorAll('strong')).length,
  groups: Array.from(document.querySelectorAll('table')[0].querySelectorAll('thead tr:first-child th'))
               .map(th => th.textContent).filter(Boolean),
}"""


@pytest.fixture(scope="module")
def widest_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(WIDEST), "--out", str(out)]) == 0
    return out / "report.html"


def test_the_widest_report_fits_1280_px_figures_first_long_tables_folded(widest_report):
    browser = chromium_driver(NETWORK_LOG)
    try:
        browser.set_window_size(1280, 900)
        browser.get(widest_report.as_uri())
        state = browser.execute_script(PAGE_STATE)
        asked = requested_urls(browser)
    finally:
        browser.quit()
    assert state["scroll"] <= state["width"], f"horizontal scroll: {state['scroll']} px wide in {state['width']} px"
    assert state["headings"][:2] == ["Run", "Summary"]
    # The figures before the first folded table, and the long tables all folded (closed).
    assert 0 <= state["firstImage"] < state["firstFolded"]
    long_tables = ("Summary, every column", "Table 1", "Dice per label", "Paired comparison")
    assert [title for _, title in state["folded"]] == [f"{name} (click to open)" for name in long_tables]
    assert not any(is_open for is_open, _ in state["folded"])
    assert state["groups"] == ["common metrics", "Learn2Reg family", "time", "memory", "training"]
    assert state["bold"] >= 10  # a best value in most columns
    # Figures are embedded: nothing is asked of a server, only the page itself.
    assert asked and all(url.startswith(("file:", "data:")) for url in asked), asked
