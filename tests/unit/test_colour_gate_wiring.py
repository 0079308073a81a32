"""Intake measures how colourful a picture was, and grading refuses a colour photo from it."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kneeai.errors import NotAKnee
from kneeai.grading import grade
from kneeai.imaging.crop import crop_knee
from kneeai.io import load_radiograph
from tests.conftest import ROOT


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _photo_of_a_knee() -> bytes:
    """A real knee film tinted strongly, as a phone photo of a lightbox would be."""
    grey = np.asarray(Image.open(ROOT / "examples" / "knees" / "kl2_9023348R.webp").convert("L"), dtype=np.float32)
    rgb = np.stack([grey, grey * 0.55, grey * 0.2 + 60], -1)
    return _png(np.clip(rgb, 0, 255).astype(np.uint8))


def test_a_grey_film_has_no_colourfulness():
    rad = load_radiograph(ROOT / "examples" / "knees" / "kl2_9023348R.webp")
    assert rad.colourfulness == 0.0


def test_a_tinted_photo_is_measured_as_colourful_and_refused_as_a_photo():
    rad = load_radiograph(_photo_of_a_knee())
    assert rad.colourfulness > 15
    with pytest.raises(NotAKnee) as err:
        grade(crop_knee(rad), radiograph=rad)
    assert err.value.params.get("detail_key") == "gate.reason.photo"


def test_grading_the_radiograph_itself_uses_its_colour_too():
    rad = load_radiograph(_photo_of_a_knee())
    with pytest.raises(NotAKnee):
        grade(rad)


def test_a_knee_with_a_prosthesis_gets_its_own_message_in_both_languages():
    from kneeai.i18n import t

    grey = np.asarray(Image.open(ROOT / "examples" / "knees" / "kl2_9023348R.webp").convert("L")).copy()
    # A bright, textureless implant across the joint line.
    grey[95:135, 50:175] = 255
    rad = load_radiograph(_png(grey))
    with pytest.raises(NotAKnee) as err:
        grade(rad)
    assert err.value.key == "error.prosthesis"
    assert err.value.message("en") == t("error.prosthesis", "en")
    assert "假体" in err.value.message("zh")
