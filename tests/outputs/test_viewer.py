"""The pair viewer: every pair's preview kept by the run (bounded, float16, checked on
read, computed again for a store from before previews), and viewer.html driven in
headless Chromium: it switches pairs and methods, sorts, fits 1280 px and asks the
network for nothing."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import NETWORK_LOG, chromium_driver, requested_urls

from regbench.cli import main
from regbench.outputs.files import ResultsFolder
from regbench.outputs.integrity import DamagedResults
from regbench.outputs.nifti import (
    METHOD_KINDS,
    PAIR_KINDS,
    PREVIEW_FILE,
    PREVIEW_PREFIX,
    preview_arrays,
    preview_key,
    preview_stride,
)
from regbench.outputs.report.viewer import _GridPainter, write_viewer

# 200 × 120 slices: stride 3, previews of 67 × 40. 15 subjects: 3 test pairs. In this process: what is
# stored and read back is the point. ants-affine misregisters one pair, which sorting must find.
RUN = ["run", "--methods", "identity,ants-affine", "--dataset", "synthetic", "--dataset-option", "shape=200,120",
       "--dataset-option", "n_subjects=15", "--no-progress", "--no-isolation"]
PREVIEW_SHAPE = (67, 40)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    pytest.importorskip("ants", reason="the run uses ants-affine (pip install 'regbench[ants]')")
    out = tmp_path_factory.mktemp("viewer") / "run"
    assert main([*RUN, "--out", str(out)]) == 0
    return out


@pytest.fixture
def copy(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "copy"))


def _expected_keys(results: pd.DataFrame) -> set[str]:
    pairs, methods = list(dict.fromkeys(results["pair"])), list(dict.fromkeys(results["method"]))
    return {*(preview_key(kind, pair) for kind in PAIR_KINDS for pair in pairs),
            *(preview_key(kind, pair, method) for kind in METHOD_KINDS for pair in pairs for method in methods)}


def test_a_preview_is_at_most_96_voxels_a_side_and_float16():
    assert preview_stride((160, 192)) == 2 and preview_stride((96, 40)) == 1 and preview_stride((224, 192)) == 3
    rng = np.random.default_rng(0)
    snapshot = {"fixed": rng.random((160, 192), dtype=np.float32), "moving": rng.random((160, 192), dtype=np.float32),
                "warped": rng.random((160, 192), dtype=np.float32), "jacobian": np.full((160, 192), 1e6, np.float32),
                "displacement": rng.normal(0, 4, (2, 160, 192)).astype(np.float32)}
    preview = preview_arrays(snapshot)
    assert sorted(preview) == sorted(f"{PREVIEW_PREFIX}{kind}" for kind in snapshot)
    assert {array.dtype for array in preview.values()} == {np.dtype(np.float16)}
    assert preview[f"{PREVIEW_PREFIX}fixed"].shape == (80, 96)
    assert preview[f"{PREVIEW_PREFIX}displacement"].shape == (2, 80, 96)
    np.testing.assert_array_equal(preview[f"{PREVIEW_PREFIX}warped"], snapshot["warped"][::2, ::2].astype(np.float16))
    # In the preview's voxels, so a grid drawn on the preview is the field's; beyond float16: clipped, never inf.
    np.testing.assert_array_equal(preview[f"{PREVIEW_PREFIX}displacement"],
                                  (snapshot["displacement"][:, ::2, ::2] / 2).astype(np.float16))
    assert np.isfinite(preview[f"{PREVIEW_PREFIX}jacobian"]).all()


def test_keys_keep_ids_and_split_back_whatever_they_hold():
    assert preview_key("warped", "a->b", "vxm1") == "warped/vxm1/a->b"
    assert preview_key("fixed", "a->b") == "fixed/a->b"
    # A variant's value may hold a path: its "/" (and "%") escaped, so no two (method, pair) share a key.
    assert preview_key("warped", "c", "m[weights=/w/x%]") == "warped/m[weights=%2Fw%2Fx%25]/c"
    assert preview_key("warped", "b/c", "a") != preview_key("warped", "c", "a/b")


def test_the_run_keeps_a_bounded_preview_of_every_pair_and_method(finished):
    folder = ResultsFolder.read(finished)
    assert len(folder.results) == 6 and (folder.results["status"] == "ok").all()
    assert set(folder.previews) == _expected_keys(folder.results)
    for key, array in folder.previews.items():
        assert array.dtype == np.float16
        assert array.shape == ((2, *PREVIEW_SHAPE) if key.startswith("displacement/") else PREVIEW_SHAPE), key
    recorded = json.loads((finished / "run.json").read_text())["files"][PREVIEW_FILE]["arrays"]
    assert sorted(recorded) == sorted(folder.previews)
    # Paired by identity: the figure pair's previews are its full-resolution snapshot, strided.
    snapshot, pair = folder.snapshot, str(folder.snapshot["pair"])
    np.testing.assert_array_equal(folder.previews[preview_key("fixed", pair)],
                                  snapshot["fixed"][::3, ::3].astype(np.float16))
    for method in folder.methods:
        np.testing.assert_array_equal(folder.previews[preview_key("warped", pair, method)],
                                      snapshot[f"warped/{method}"][::3, ::3].astype(np.float16))
        np.testing.assert_array_equal(folder.previews[preview_key("displacement", pair, method)],
                                      (snapshot[f"displacement/{method}"][:, ::3, ::3] / 3).astype(np.float16))


def _rewrite_previews(folder: Path, change) -> None:
    with np.load(folder / PREVIEW_FILE) as stored:
        arrays = {key: stored[key] for key in stored.files}
    change(arrays)
    with (folder / PREVIEW_FILE).open("wb") as file:
        np.savez_compressed(file, **arrays)


DAMAGE = {
    "cut short": (lambda folder: (folder / PREVIEW_FILE).write_bytes((folder / PREVIEW_FILE).read_bytes()[:2000]),
                  "is not a readable .npz file"),
    "an array lost": (lambda folder: _rewrite_previews(folder, lambda arrays: arrays.pop(next(iter(arrays)))),
                      "run.json records"),
    "float32 arrays": (lambda folder: _rewrite_previews(
        folder, lambda arrays: arrays.update({key: value.astype(np.float32) for key, value in arrays.items()})),
        "not float16"),
    "a volume": (lambda folder: _rewrite_previews(
        folder, lambda arrays: arrays.update({key: np.zeros((200, 120), np.float16) for key in arrays
                                              if key.startswith("fixed/")})),
        "not a preview of at most 96 voxels a side"),
}


def _forget_digest(folder: Path) -> None:
    """run.json as an older run wrote it: the previews' arrays recorded, not their SHA-256."""
    info = json.loads((folder / "run.json").read_text())
    del info["files"][PREVIEW_FILE]["sha256"]
    (folder / "run.json").write_text(json.dumps(info))


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_previews_npz_is_refused_on_read(copy, damage):
    change, message = DAMAGE[damage]
    change(copy)
    with pytest.raises(DamagedResults, match=r"previews\.npz is not the file run.json records \(its SHA-256 differs"):
        ResultsFolder.read(copy)
    _forget_digest(copy)  # without the digest, the file's own checks still refuse it
    with pytest.raises(DamagedResults, match=rf"previews\.npz .*{message}.*; rerun `regbench run"):
        ResultsFolder.read(copy)
    assert ResultsFolder.read(copy, arrays=False).previews == {}  # readers of tables only never open it


def test_previews_of_another_run_with_the_same_arrays_are_refused(copy):
    """Same names, shapes and dtype, other values (another run's file copied in): only the digest tells."""
    _rewrite_previews(copy, lambda arrays: arrays.update({key: value * 0 for key, value in arrays.items()}))
    with pytest.raises(DamagedResults, match=r"previews\.npz is not the file run.json records"):
        ResultsFolder.read(copy)
    _forget_digest(copy)
    assert ResultsFolder.read(copy).previews  # an older run.json cannot tell: read as before


def _strip_previews(json_file: Path) -> None:
    """Make a stored record as a store from before previews wrote it: its figure arrays only, if any."""
    stored = json.loads(json_file.read_text())
    stored["arrays"] = [name for name in stored["arrays"] if not name.startswith(PREVIEW_PREFIX)]
    npz = json_file.with_suffix(".npz")
    with np.load(npz) as loaded:
        kept = {name: loaded[name] for name in stored["arrays"]}
    if kept:
        with npz.open("wb") as file:
            np.savez_compressed(file, **kept)
    else:
        npz.unlink()
    json_file.write_text(json.dumps(stored))


def test_a_store_from_before_previews_computes_its_pairs_again(copy):
    stored = sorted(path for path in (copy / "progress").rglob("*.json") if path.name != "method.json"
                    and path.parent.name.startswith("identity"))
    assert len(stored) == 3
    for path in stored[:2]:
        _strip_previews(path)
    before = ResultsFolder.read(copy).results
    assert main([*RUN, "--out", str(copy)]) == 0
    assert json.loads((copy / "run.json").read_text())["reused_results"] == 6 - 2
    folder = ResultsFolder.read(copy)
    assert set(folder.previews) == _expected_keys(folder.results)
    pd.testing.assert_series_equal(folder.results["dice_mean"], before["dice_mean"])


def test_a_grid_drawn_on_a_reused_figure_is_the_grid_drawn_afresh(rng):
    first, second = (rng.normal(0, 2, (2, 40, 30)).astype(np.float16) for _ in range(2))
    reused, fresh = _GridPainter(), _GridPainter()
    try:
        reused(first)
        assert reused(second) == fresh(second)
    finally:
        reused.close()
        fresh.close()


def test_no_viewer_without_previews(copy, tmp_path):
    folder = ResultsFolder.read(copy, arrays=False)  # as a folder from before previews reads
    assert write_viewer(folder, tmp_path, folder.methods) is None
    assert not (tmp_path / "viewer.html").exists()


def _sources(browser, *ids: str) -> list[str | None]:
    return [browser.execute_script("return document.getElementById(arguments[0]).getAttribute('src')", id_)
            for id_ in ids]


def _rows(browser) -> list[str]:
    return browser.execute_script("return Array.from(document.querySelectorAll('#pairs-body tr'))"
                                  ".map(row => row.dataset.pair)")


def test_the_viewer_switches_pairs_and_methods_offline_in_headless_chromium(finished, tmp_path):
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - chromium_driver skips without selenium
    from selenium.webdriver.support.ui import Select  # noqa: PLC0415

    folder = ResultsFolder.read(finished)
    page = write_viewer(folder, tmp_path, ["identity", "ants-affine"])
    assert page == tmp_path / "viewer.html"
    text = page.read_text()
    assert "http:" not in text and "https:" not in text and "src=\"/" not in text  # nothing to fetch
    pairs = list(dict.fromkeys(folder.results["pair"]))
    dice = folder.results.set_index(["method", "pair"])["dice_mean"]
    browser = chromium_driver(NETWORK_LOG)
    try:
        browser.set_window_size(1280, 700)
        browser.get(page.as_uri())
        select = lambda id_: Select(browser.find_element(By.ID, id_))  # noqa: E731
        assert select("method-a").first_selected_option.text == "identity"
        assert select("method-b").first_selected_option.text == "ants-affine"
        # Worst first by method A's Dice, the pair shown that first row's.
        assert _rows(browser) == sorted(pairs, key=lambda pair: dice["identity", pair])
        assert select("pair").first_selected_option.text == _rows(browser)[0]
        images = [f"img-{side}-{panel}" for side in "ab" for panel in ("warped", "diff", "checker", "grid", "jacobian")]
        loaded = browser.execute_script(
            "return Array.from(document.images).map(i => [i.id, i.complete, i.naturalWidth, i.naturalHeight])")
        assert {image for image, *_ in loaded} == {"img-fixed", "img-moving", "img-before", *images}
        for image, complete, width, height in loaded:
            assert complete and width >= 40 and height >= 40, image
        first = _sources(browser, "img-a-warped", "img-b-warped", "img-fixed")
        assert all(source.startswith("data:image/png;base64,") for source in first)

        select("pair").select_by_visible_text(_rows(browser)[1])
        second = _sources(browser, "img-a-warped", "img-b-warped", "img-fixed")
        assert all(now != then for now, then in zip(second, first, strict=True))  # another pair's images

        select("method-b").select_by_visible_text("identity")
        assert _sources(browser, "img-b-warped") != second[1:2]
        assert _sources(browser, "img-b-warped") == _sources(browser, "img-a-warped")  # both identity now
        metrics = browser.execute_script("return Array.from(document.querySelectorAll('#metrics-body tr'))"
                                         ".map(row => Array.from(row.cells).map(cell => cell.textContent))")
        assert ["Dice ↑", *[f"{dice['identity', _rows(browser)[1]]:.4f}"] * 2] in metrics

        # A click on a heading sorts by it, worst first; a second click, best first.
        heading = browser.find_element(By.CSS_SELECTOR, "#pairs-head th[data-column='1']")
        assert heading.text.startswith("ants-affine: Dice")
        heading.click()
        worst_first = sorted(pairs, key=lambda pair: dice["ants-affine", pair])
        assert _rows(browser) == worst_first
        heading.click()
        assert _rows(browser) == worst_first[::-1]
        # A click on a row shows its pair.
        browser.find_element(By.CSS_SELECTOR, f"#pairs-body tr[data-pair='{worst_first[0]}']").click()
        assert select("pair").first_selected_option.text == worst_first[0]

        width = browser.execute_script("return [document.documentElement.scrollWidth, "
                                       "document.documentElement.clientWidth]")
        assert width[0] <= width[1] <= 1280, width  # no horizontal scroll
        urls = requested_urls(browser)
    finally:
        browser.quit()
    assert urls and all(url.startswith(("file:", "data:")) for url in urls), urls


def test_a_pair_a_method_failed_shows_why_without_its_images(finished, tmp_path):
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - chromium_driver skips without selenium
    from selenium.webdriver.support.ui import Select  # noqa: PLC0415

    folder = ResultsFolder.read(finished)
    pair = folder.results["pair"].iloc[-1]
    failed = (folder.results["method"] == "ants-affine") & (folder.results["pair"] == pair)
    results = folder.results.copy()
    results.loc[failed, ["status", "error", "dice_mean"]] = ["failed", "RuntimeError: <b>diverged</b>", np.nan]
    previews = {key: array for key, array in folder.previews.items()
                if not key.endswith(f"/ants-affine/{pair}")}  # a failed pair has no preview
    page = write_viewer(replace(folder, results=results, previews=previews), tmp_path, ["identity", "ants-affine"])
    browser = chromium_driver()
    try:
        browser.get(page.as_uri())
        heading = browser.find_element(By.CSS_SELECTOR, "#pairs-head th[data-column='1']")  # ants-affine's Dice
        for _ in range(2):
            heading.click()
            assert _rows(browser)[-1] == pair  # its Dice missing: last, worst first and best first
        Select(browser.find_element(By.ID, "pair")).select_by_visible_text(pair)
        assert _sources(browser, "img-b-warped", "img-b-grid") == [None, None]
        assert _sources(browser, "img-a-warped")[0].startswith("data:image/png")
        assert browser.find_element(By.ID, "failed-b").text == "failed: RuntimeError: <b>diverged</b>"  # as text
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    finally:
        browser.quit()
    assert not errors, errors
