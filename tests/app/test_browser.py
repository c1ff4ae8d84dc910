"""The app in a real headless browser: `budgetplan app` on 127.0.0.1, the flow to a downloaded plan.

Uses Debian's chromium through playwright's Python package (never `playwright install`). Saves
screenshots of the plan page, the worklist and the budget curve in the test's temp dir; to
refresh the ones the README shows, run `BUDGETPLAN_SCREENSHOT=docs/screenshots/plan.png
BUDGETPLAN_SCREENSHOT_DIR=docs/screenshots python -m pytest tests/app/test_browser.py`.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

CHROMIUM = os.environ.get("BUDGETPLAN_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_ENV = "BUDGETPLAN_SCREENSHOT"
SCREENSHOT_DIR_ENV = "BUDGETPLAN_SCREENSHOT_DIR"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"the app did not answer at {url} within {timeout:.0f} s")


@contextlib.contextmanager
def running_app(store: Path, tmp_path: Path) -> Iterator[str]:
    """``budgetplan app --quick`` on a free port of 127.0.0.1 (its own cache); yields the URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BUDGETPLAN_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "budgetplan.cli", "app", "--address", "127.0.0.1"]
    cmd += ["--port", str(port), "--store", str(store), "--quick"]
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def chromium_or_skip() -> Any:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    return pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed"
    )


@pytest.fixture(scope="module")
def store_with_images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The small store whose label table names image files (PNG, written here) by relative
    paths under an image folder: the worklist shows thumbnails once the folder is given."""
    from PIL import Image

    from budgetplan.dataset import Dataset

    from .conftest import make_labels

    table, x = make_labels()
    base = tmp_path_factory.mktemp("app-images")
    images = base / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    for i, image_id in enumerate(table.ids):  # a bright blob on a dark field, placed per image
        cy, cx = rng.integers(16, 48, size=2)
        blob = 200 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (60 + 4 * (i % 7)))
        pixels = np.clip(30 + blob + rng.normal(0, 12, size=(64, 64)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(images / image_id)
    table.meta = pd.DataFrame({"path": [f"xr/{i}" for i in table.ids]})
    root = base / "store"
    Dataset.create(root, table, x, table.ids, name="small", default_target="Nodule", simulated=True)
    return root, images


def _shot(page: Any, top: Any, bottom: Any, path: Path) -> None:
    """A screenshot from ``top``'s top edge to ``bottom``'s bottom edge (Streamlit scrolls an
    inner container, so ``top`` is scrolled to the top of the tall viewport first)."""
    top.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)
    a, b = top.bounding_box(), bottom.bounding_box()
    assert a is not None and b is not None
    y = max(0.0, a["y"] - 10)
    clip = {"x": 0, "y": y, "width": 1400, "height": b["y"] + b["height"] + 10 - y}
    page.screenshot(path=str(path), clip=clip)


@pytest.mark.browser
def test_plan_worklist_curve_and_download_in_headless_chromium(
    store_with_images: tuple[Path, Path], tmp_path: Path
) -> None:
    """What only a browser shows, in one flow (one server, one plan): the plan page with its
    charts drawn, the worklist with thumbnails and the map, the budget curve (vega canvases of
    real size), and the CSV worklist downloaded. ``BUDGETPLAN_SCREENSHOT=docs/screenshots/
    plan.png`` and ``BUDGETPLAN_SCREENSHOT_DIR=docs/screenshots`` refresh the README's
    plan.png, worklist.png and budget-curve.png."""
    sync_api = chromium_or_skip()
    store, images = store_with_images
    out = Path(os.environ.get(SCREENSHOT_DIR_ENV) or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "plan.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    with running_app(store, tmp_path) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(  # a fresh profile (user data dir)
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=ARGS,
            viewport={"width": 1400, "height": 2000},
            accept_downloads=True,
        )
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(url + "/plan")
        page.get_by_text("SIMULATED", exact=False).first.wait_for()
        # a study with 10 Nodule positives, 6 draws and budget for every image: its plan has
        # images to annotate (Hernia, q = 0.007; the worklist below needs them)
        for label, value in (
            ("Seeds", "6"),
            ("Target positives", "10"),
            ("Budget (labels)", "240"),
        ):
            field = page.get_by_role("spinbutton", name=label)
            field.fill(value)
            field.press("Enter")
            page.wait_for_timeout(1500)
        page.get_by_role("button", name="Make the plan").click()
        button = page.get_by_role("button", name="CSV worklist")
        # in a fresh clone the first plan also compiles the training engine (~45 s alone here)
        button.wait_for(timeout=180_000)
        page.get_by_text("Expected gain").first.wait_for()
        charts = page.locator("[data-testid='stVegaLiteChart']")
        charts.first.locator("canvas, svg").first.wait_for()
        page.wait_for_timeout(2000)  # let the charts finish drawing
        page.screenshot(path=str(shot), full_page=True)

        worklist = page.get_by_text("Worklist: the images to annotate first")
        worklist.wait_for()
        folder = page.get_by_label("Image folder", exact=False)
        folder.fill(str(images))
        folder.press("Enter")
        thumbs = page.locator("[data-testid='stImage'] img, [data-testid='stFullScreenFrame'] img")
        thumbs.first.wait_for()
        page.wait_for_function(
            "document.querySelectorAll(\"[data-testid='stVegaLiteChart']\").length >= 2"
        )
        map_chart = charts.nth(1)
        map_chart.locator("canvas, svg").first.wait_for()
        box = map_chart.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 300
        page.wait_for_timeout(1500)
        _shot(page, worklist, map_chart, out / "worklist.png")
        n_thumbs = thumbs.count()

        page.get_by_role("button", name="Draw the budget curve").click()
        curve_title = page.get_by_text("Budget curve: where more budget stops paying")
        page.get_by_text("Numbers behind the curve").wait_for()
        page.wait_for_function(
            "document.querySelectorAll(\"[data-testid='stVegaLiteChart']\").length >= 3"
        )
        curve = charts.nth(2)
        curve.locator("canvas, svg").first.wait_for()
        box = curve.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 250
        page.wait_for_timeout(1500)
        _shot(page, curve_title, curve, out / "budget-curve.png")

        with page.expect_download() as info:
            page.get_by_role("button", name="CSV worklist").click()
        download = info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        browser.close()
    assert n_thumbs >= 1
    for path in (shot, out / "worklist.png", out / "budget-curve.png"):
        assert path.stat().st_size > 10_000  # a picture of the view, not an empty file
    rows = pd.read_csv(io.BytesIO(saved.read_bytes()))
    assert saved.suffix == ".csv"
    assert {"plan_id", "image_id", "cost"} <= set(rows.columns)
