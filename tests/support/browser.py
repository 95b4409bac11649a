"""Headless Chromium for the tests that open regbench's pages as a reader would, and
what such a page asked the network for."""

from __future__ import annotations

import json
import shutil

import pytest


def chromium_driver(capabilities: dict | None = None):
    """Headless Chromium driven by Debian's chromedriver (skips without them or selenium);
    ``capabilities``: more of them (e.g. ``goog:loggingPrefs`` for :func:`requested_urls`)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium")
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    for name, value in (capabilities or {}).items():
        options.set_capability(name, value)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)


NETWORK_LOG = {"goog:loggingPrefs": {"performance": "ALL"}}  # the capability requested_urls reads


def requested_urls(browser) -> list[str]:
    """Every URL the page asked for so far, from Chrome's performance log (the driver made
    with :data:`NETWORK_LOG`)."""
    messages = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
    return [message["params"]["request"]["url"] for message in messages
            if message["method"] == "Network.requestWillBeSent"]
