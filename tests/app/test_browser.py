"""The app in a real headless browser: `budgetplan app` on 127.0.0.1, the flow to a downloaded plan.

Uses Debian's chromium through playwright's Python package (never `playwright install`). Saves a
screenshot of the plan page in the test's temp dir; to refresh the one the README shows, run
`BUDGETPLAN_SCREENSHOT=docs/screenshots/plan.png python -m pytest tests/app/test_browser.py`.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

CHROMIUM = os.environ.get("BUDGETPLAN_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_ENV = "BUDGETPLAN_SCREENSHOT"
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


@pytest.mark.browser
def test_plan_flow_in_headless_chromium(small_store: Path, tmp_path: Path) -> None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed"
    )

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BUDGETPLAN_CACHE": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "budgetplan.cli",
        "app",
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    cmd += ["--store", str(small_store), "--quick"]
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_healthy(url, proc)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1850}, accept_downloads=True)
            page.set_default_timeout(40_000)
            page.goto(url + "/plan")
            page.get_by_text("SIMULATED", exact=False).first.wait_for()
            page.get_by_role("button", name="Make the plan").click()
            button = page.get_by_role("button", name="CSV worklist")
            button.wait_for()
            page.get_by_text("random", exact=False).first.wait_for()
            charts = page.locator(
                "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"
            )
            charts.first.wait_for()
            page.wait_for_timeout(2500)  # let the charts finish drawing
            shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "plan.png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            with page.expect_download() as info:
                button.click()
            download = info.value
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            browser.close()
        assert shot.stat().st_size > 10_000  # a real picture of the page, not an empty file
        worklist = pd.read_csv(io.BytesIO(saved.read_bytes()))
        assert saved.suffix == ".csv"
        assert {"plan_id", "image_id", "cost"} <= set(worklist.columns)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()
