"""The weights manifest: every shipped model file with its sha256, checked before loading.

``weights/manifest.json`` maps a file name (relative to ``weights/``) to its metadata:
``{"sha256": ..., "kind": ..., "architecture": ..., ...}``. A file whose hash differs is refused
with :class:`~kneeai.errors.WeightsMismatch`.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from kneeai.config import SETTINGS
from kneeai.errors import WeightsMismatch, WeightsMissing

__all__ = ["sha256_file", "load_manifest", "verified_path", "optional_path", "register"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_manifest(weights_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    path = (weights_dir or SETTINGS.weights_dir) / MANIFEST_NAME
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def verified_path(name: str, weights_dir: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Return the path of ``name`` and its manifest entry after checking its sha256."""
    wdir = weights_dir or SETTINGS.weights_dir
    entry = load_manifest(wdir).get(name)
    path = wdir / name
    if entry is None or not path.exists():
        raise WeightsMissing(name=name)
    if sha256_file(path) != entry["sha256"]:
        raise WeightsMismatch(name=name)
    return path, entry


def optional_path(name: str, weights_dir: Path | None = None, instead: str = "") -> Path | None:
    """The path of an optional shipped file after its sha256 check, or None when the manifest does
    not list it or it fails the check (logged, with what is done ``instead``)."""
    from kneeai.errors import KneeAIError

    if name not in load_manifest(weights_dir):
        return None
    try:
        return verified_path(name, weights_dir)[0]
    except KneeAIError as exc:
        log.warning("%s not usable (%s): %s.", name, exc.key, instead)
        return None


def register(name: str, meta: dict[str, Any], weights_dir: Path | None = None) -> dict[str, Any]:
    """Add or replace ``name`` in the manifest, computing its sha256. Used by training scripts."""
    wdir = weights_dir or SETTINGS.weights_dir
    manifest = load_manifest(wdir)
    entry = {**meta, "sha256": sha256_file(wdir / name), "bytes": (wdir / name).stat().st_size}
    manifest[name] = entry
    (wdir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return entry
