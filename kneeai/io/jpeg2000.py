"""A pydicom decoder plugin that decodes JPEG 2000 with imagecodecs, on several threads.

pylibjpeg-openjpeg decodes on one thread: a 2500x2000 12-bit lossless film took 0.47 s, over
the intake target. imagecodecs wraps the same OpenJPEG library with its thread pool and gives
identical pixels in 0.25 s on 2 cores (``python -m kneeai.bench intake``).

pydicom does everything around the codec itself (it reads the codestream's precision and
signedness, corrects a sign mismatch, masks unused bits), so this module only decodes one frame
and tells pydicom the container size, as its own pylibjpeg plugin does. Registered by
:func:`register`; when imagecodecs is missing, the other installed plugins decode as before.
"""
from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["PLUGIN", "SYNTAXES", "THREADS", "register", "is_available"]

PLUGIN = "imagecodecs"
# JPEG 2000 lossless and lossy, HTJ2K lossless, lossless RPCL and lossy. Plain strings, so that
# importing this module does not import pydicom.
SYNTAXES = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
            "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203")
# Decoding threads: every core, up to 4 (tiles beyond that rarely pay on a single film).
THREADS = max(1, min(4, os.cpu_count() or 1))

# pydicom's add_plugin is not thread-safe, and Streamlit serves sessions on threads.
_REGISTER_LOCK = threading.Lock()
_registered: list[bool] = []  # holds the answer once registered

# pydicom asks for this when is_available() says no.
DECODER_DEPENDENCIES = {syntax: ("imagecodecs",) for syntax in SYNTAXES}


def is_available(syntax: str) -> bool:
    if syntax not in SYNTAXES:
        return False
    try:
        import imagecodecs
    except ImportError:
        return False
    return bool(getattr(imagecodecs, "JPEG2K", None) and imagecodecs.JPEG2K.available)


def decode_frame(src: bytes, runner: Any) -> bytearray:
    """One JPEG 2000 frame -> raw pixel bytes in a container of the codestream's precision."""
    import imagecodecs
    from pydicom.pixels.common import PhotometricInterpretation as PI

    arr = imagecodecs.jpeg2k_decode(src, numthreads=THREADS)
    # OpenJPEG applies the inverse colour transform: YBR_ICT and YBR_RCT come out as RGB.
    if runner.photometric_interpretation in (PI.YBR_ICT, PI.YBR_RCT):
        runner.set_option("photometric_interpretation", PI.RGB)
    runner.set_option("bits_allocated", 8 * arr.dtype.itemsize)
    if arr.ndim == 3:
        runner.set_option("planar_configuration", 0)  # colour-by-pixel, as decoded
    return bytearray(arr.tobytes())


def register() -> bool:
    """Add the plugin to pydicom's JPEG 2000 decoders, once (later calls return at once); True
    when it can decode."""
    if _registered:
        return _registered[0]
    from pydicom.pixels import get_decoder

    with _REGISTER_LOCK:
        if not _registered:
            for syntax in SYNTAXES:
                get_decoder(syntax).add_plugin(PLUGIN, (__name__, "decode_frame"))
            _registered.append(any(PLUGIN in get_decoder(s).available_plugins for s in SYNTAXES))
    return _registered[0]
