"""A real `streamlit run` and Debian's Chromium driven by Playwright, for e2e tests and screenshots."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The closed network refuses Chromium's background connections; these flags keep it quiet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(db_path: Path, timeout: float = 90) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "KNEEAI_DB": str(db_path), "DATABASE_URL": f"sqlite:///{db_path}"}
    # A log file, not a pipe: a pipe nobody reads fills up and stalls the server.
    log_path = db_path.parent / f"streamlit-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.5)
                if proc.poll() is not None:
                    raise RuntimeError("streamlit exited: " + log_path.read_text(errors="replace")[-2000:])
            else:
                raise RuntimeError("streamlit did not become healthy")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def wait_idle(page, timeout: float = 90_000, settle_ms: int = 1500) -> None:
    """Wait until the page stops changing: no spinner or skeleton, and the same text for
    ``settle_ms``. Streamlit's own 'running' widget is hidden by toolbarMode = minimal."""
    import time as _time

    deadline = _time.time() + timeout / 1000
    last, stable_since = None, _time.time()
    while _time.time() < deadline:
        # The app root carries the script's run state, so a rerun that has not drawn anything yet counts as busy.
        busy = page.locator("[data-testid='stSpinner'], [data-testid='stSkeleton'], "
                            "[data-testid='stApp'][data-test-script-state='running']").count() > 0
        text = page.evaluate("() => document.body.innerText.length + ':' + document.images.length")
        now = _time.time()
        if busy or text != last:
            last, stable_since = text, now
        elif (now - stable_since) * 1000 >= settle_ms:
            return
        page.wait_for_timeout(250)
