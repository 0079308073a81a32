"""The real thing: `streamlit run`, Debian's Chromium, an uploaded knee, a grade on screen."""
from __future__ import annotations

import pytest

from tests.e2e.browser import ROOT, chromium_page, streamlit_server, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLE = ROOT / "examples" / "knees" / "kl3_9023348L.webp"


@pytest.mark.parametrize("lang,expected", [("en", "probability"), ("zh", "概率")])
def test_upload_a_knee_and_see_its_grade(tmp_path, lang, expected):
    with streamlit_server(tmp_path / "e2e.db") as url, chromium_page() as page:
        page.goto(f"{url}/?lang={lang}")
        page.wait_for_selector("[data-testid='stFileUploaderDropzone']")
        page.locator("input[type='file']").first.set_input_files(str(EXAMPLE))
        page.get_by_text("KL", exact=False).first.wait_for()
        wait_idle(page)
        headline = page.locator("h3").filter(has_text="KL").first.inner_text()
        assert "KL" in headline and expected in headline
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(tmp_path / f"grade-{lang}.png"), full_page=True)


def _bilateral_film(tmp_path):
    import numpy as np
    from PIL import Image

    knees = [np.asarray(Image.open(ROOT / "examples" / "knees" / n).convert("L")) for n in ("kl4_9070207R.webp", "kl0_9006140L.webp")]
    film = np.pad(np.concatenate(knees, axis=1), ((300, 300), (40, 40)), mode="reflect")
    path = tmp_path / "film.png"
    Image.fromarray(film).save(path)
    return path, film.shape


def test_dragging_a_rectangle_on_the_film_moves_the_chosen_knees_box(tmp_path):
    film, (h, w) = _bilateral_film(tmp_path)
    with streamlit_server(tmp_path / "e2e.db") as url, chromium_page() as page:
        page.set_viewport_size({"width": 1400, "height": 2000})
        page.goto(f"{url}/?lang=en")
        page.wait_for_selector("[data-testid='stFileUploaderDropzone']")
        page.locator("input[type='file']").first.set_input_files(str(film))
        page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=120_000)
        wait_idle(page)
        values = page.locator("[data-testid='stSliderThumbValue']")
        before = [int(values.nth(i).inner_text()) for i in range(values.count())]
        area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        # A rectangle over the film's top-left tenth to about a third, in screen pixels.
        x0, y0 = area["x"] + 0.1 * area["width"], area["y"] + 0.1 * area["height"]
        x1, y1 = area["x"] + 0.4 * area["width"], area["y"] + 0.3 * area["height"]
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=8)
        page.mouse.move(x1, y1, steps=8)
        page.mouse.up()
        page.wait_for_timeout(1000)
        wait_idle(page)
        after = [int(values.nth(i).inner_text()) for i in range(values.count())]
        # Knee 1's sliders (size, centre x, centre y) now hold the dragged square; knee 2's are untouched.
        side, cx, cy = after[:3]
        assert abs(cx - 0.25 * w) <= 0.03 * w and abs(cy - 0.2 * h) <= 0.03 * h
        assert abs(side - max(0.3 * w, 0.2 * h)) <= 0.04 * max(h, w)
        assert after[3:] == before[3:] and after[:3] != before[:3]
        assert page.locator("[data-testid='stException']").count() == 0


def test_a_negative_knee_is_graded_turned_back_and_the_page_says_so(tmp_path):
    import numpy as np
    from PIL import Image

    knee = np.asarray(Image.open(EXAMPLE).convert("L"))
    path = tmp_path / "negative.png"
    Image.fromarray(255 - knee).save(path)
    with streamlit_server(tmp_path / "e2e.db") as url, chromium_page() as page:
        page.goto(f"{url}/?lang=en")
        page.wait_for_selector("[data-testid='stFileUploaderDropzone']")
        page.locator("input[type='file']").first.set_input_files(str(path))
        page.get_by_text("This image was a negative", exact=False).first.wait_for(timeout=120_000)
        wait_idle(page)
        assert "KL" in page.locator("h3").filter(has_text="KL").first.inner_text()
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(tmp_path / "negative-en.png"), full_page=True)
