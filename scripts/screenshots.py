"""Chromium screenshots of every page in both languages, for docs/screenshots/ and for looking.

    python -m scripts.screenshots [--out docs/screenshots]

Starts `streamlit run`, grades an example knee, then visits each page through the sidebar (so the
session, and the grade, carry over) and saves <page>-<lang>.png.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ui.navigation import PAGES
from kneeai.i18n import t
from tests.e2e.browser import ROOT, chromium_page, streamlit_server, wait_idle

EXAMPLE = ROOT / "examples" / "knees" / "kl3_9023348L.webp"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--langs", default="en,zh")
    ap.add_argument("--pages", default="", help="comma-separated page stems (default: all)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    wanted = set(filter(None, a.pages.split(",")))
    with tempfile.TemporaryDirectory() as tmp, streamlit_server(Path(tmp) / "shots.db") as url, chromium_page(1400, 2400) as page:
        for lang in a.langs.split(","):
            page.goto(f"{url}/?lang={lang}")
            page.wait_for_selector("[data-testid='stFileUploaderDropzone']")
            page.locator("input[type='file']").first.set_input_files(str(EXAMPLE))
            page.locator("h3").filter(has_text="KL").first.wait_for()
            wait_idle(page)
            for path, title_key, _icon, _default in PAGES:
                stem = Path(path).stem
                if wanted and stem not in wanted:
                    continue
                page.locator("[data-testid='stSidebarNav'] a").filter(has_text=t(title_key, lang)).first.click()
                wait_idle(page)
                out = a.out / f"{stem}-{lang}.png"
                page.screenshot(path=str(out), full_page=True)
                print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
