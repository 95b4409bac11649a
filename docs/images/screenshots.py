"""Make the README's screenshots of the report and the pair viewer, as a reader sees
them: headless Chromium (Debian's chromium and chromedriver, selenium from the `test`
extra) at 1280 px, from reports that `regbench report` wrote.

    regbench report reports/mni2d-modern --out /tmp/modern
    regbench report reports/mni2d-baselines --out /tmp/baselines
    python docs/images/screenshots.py /tmp/modern/report.html /tmp/baselines/viewer.html
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from selenium import webdriver

HERE = Path(__file__).parent


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")),
                            options=options)


def shoot(page: Path, out: Path, height: int) -> None:
    """``page`` at 1280 × ``height`` px, from its top, into ``out``."""
    driver = browser()
    try:
        driver.set_window_size(1280, height)
        driver.get(page.resolve().as_uri())
        driver.save_screenshot(str(out))
    finally:
        driver.quit()
    print(f"wrote {out}")


if __name__ == "__main__":
    report, viewer = map(Path, sys.argv[1:3])
    shoot(report, HERE / "report-summary.png", 1000)
    shoot(viewer, HERE / "pair-viewer.png", 1000)
