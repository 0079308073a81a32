"""A DICOMweb client for one PACS (QIDO-RS, WADO-RS, STOW-RS), over ``dicomweb-client``.

The address and credentials come from the environment unless given:
``KNEEAI_PACS_URL`` (the DICOMweb root, e.g. ``https://pacs.example.org/dicom-web``),
``KNEEAI_PACS_USER`` and ``KNEEAI_PACS_PASSWORD`` (HTTP basic), ``KNEEAI_PACS_TIMEOUT`` (seconds).
Every network or HTTP failure leaves as one of :mod:`kneeai.pacs.errors`, never as a raw
``requests`` error.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kneeai.pacs.errors import PacsNotConfigured, PacsRefused, PacsUnreachable, StowRejected

__all__ = ["PacsSettings", "PacsClient", "connect", "dataset_bytes"]

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PacsSettings:
    """Where the PACS is. ``url`` is the DICOMweb root; ``user``/``password`` are HTTP basic."""

    url: str
    user: str | None = None
    password: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls, url: str | None = None) -> PacsSettings:
        url = url or os.environ.get("KNEEAI_PACS_URL", "").strip()
        if not url:
            raise PacsNotConfigured()
        timeout = float(os.environ.get("KNEEAI_PACS_TIMEOUT", DEFAULT_TIMEOUT_S))
        return cls(url.rstrip("/"), os.environ.get("KNEEAI_PACS_USER") or None,
                   os.environ.get("KNEEAI_PACS_PASSWORD") or None, timeout)


def dataset_bytes(ds: Any) -> bytes:
    """A pydicom Dataset as a DICOM Part 10 file."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


class PacsClient:
    """The few DICOMweb calls KneeAI makes, with errors translated to ours."""

    def __init__(self, settings: PacsSettings) -> None:
        import requests
        from dicomweb_client.api import DICOMwebClient

        self.settings = settings
        session = requests.Session()
        if settings.user:
            session.auth = (settings.user, settings.password or "")
        self._session = session
        self._web = DICOMwebClient(settings.url, session=session, timeout=settings.timeout_s)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        import requests

        try:
            return fn(*args, **kwargs)
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise PacsRefused(url=self.settings.url, status=status) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise PacsUnreachable(url=self.settings.url, detail=type(exc).__name__) from exc
        except requests.exceptions.RequestException as exc:
            raise PacsUnreachable(url=self.settings.url, detail=f"{type(exc).__name__}: {exc}") from exc

    # QIDO-RS -----------------------------------------------------------------------------
    def search_studies(self, filters: dict[str, Any], fields: Sequence[str] = (),
                       limit: int | None = None) -> list[dict]:
        return self._call(self._web.search_for_studies, search_filters=filters or None, fields=list(fields) or None,
                          limit=limit)

    def search_series(self, filters: dict[str, Any], study_uid: str | None = None, fields: Sequence[str] = (),
                      limit: int | None = None) -> list[dict]:
        return self._call(self._web.search_for_series, study_instance_uid=study_uid, search_filters=filters or None,
                          fields=list(fields) or None, limit=limit)

    def search_instances(self, study_uid: str, series_uid: str | None = None, fields: Sequence[str] = ()) -> list[dict]:
        return self._call(self._web.search_for_instances, study_instance_uid=study_uid,
                          series_instance_uid=series_uid, fields=list(fields) or None)

    # WADO-RS -----------------------------------------------------------------------------
    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> Any:
        """The instance as a pydicom Dataset (transfer syntax as stored).

        A PACS that stored a file without its 128-byte preamble sends it back so; dicomweb-client
        refuses such a part, so it is then fetched again and read leniently."""
        from pydicom import dcmread
        from pydicom.errors import InvalidDicomError

        try:
            return self._call(self._web.retrieve_instance, study_uid, series_uid, sop_uid)
        except InvalidDicomError:
            url = f"{self.settings.url}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"
            accept = {"Accept": 'multipart/related; type="application/dicom"'}
            response = self._call(self._session.get, url, headers=accept, timeout=self.settings.timeout_s)
            self._call(response.raise_for_status)
            parts = _multipart_parts(response.content, response.headers.get("Content-Type", ""))
            if not parts:
                raise PacsRefused(url=self.settings.url, status="empty") from None
            return dcmread(io.BytesIO(parts[0]), force=True)

    def retrieve_metadata(self, study_uid: str, series_uid: str, sop_uid: str) -> dict:
        return self._call(self._web.retrieve_instance_metadata, study_uid, series_uid, sop_uid)

    def retrieve_rendered(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        """A rendered picture of the instance (JPEG or PNG, as the PACS chooses)."""
        return self._call(self._web.retrieve_instance_rendered, study_uid, series_uid, sop_uid,
                          media_types=("image/jpeg", "image/png"))

    # STOW-RS -----------------------------------------------------------------------------
    def store(self, datasets: Sequence[Any], study_uid: str) -> list[str]:
        """Store ``datasets`` in study ``study_uid``; the SOP Instance UIDs the PACS accepted.

        Raises StowRejected when the PACS refuses the request or any one of the objects."""
        import requests

        for ds in datasets:
            # dicomweb-client writes what pydicom is given: a Part 10 file needs its preamble.
            if getattr(ds, "preamble", None) is None:
                ds.preamble = b"\0" * 128
        try:
            response = self._web.store_instances(list(datasets), study_instance_uid=study_uid)
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise StowRejected(status=status, detail=_stow_failures(exc.response)) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise PacsUnreachable(url=self.settings.url, detail=type(exc).__name__) from exc
        failed = list(getattr(response, "FailedSOPSequence", None) or [])
        if failed:
            reasons = ", ".join(f"{i.get('ReferencedSOPInstanceUID', '?')}: 0x{int(i.get('FailureReason', 0)):04X}"
                                for i in failed)
            raise StowRejected(status="200", detail=reasons)
        stored = [str(item.ReferencedSOPInstanceUID) for item in getattr(response, "ReferencedSOPSequence", None) or []]
        wanted = {str(ds.SOPInstanceUID) for ds in datasets}
        if not wanted <= set(stored):
            raise StowRejected(status="200", detail="missing: " + ", ".join(sorted(wanted - set(stored))))
        return stored


def _multipart_parts(body: bytes, content_type: str) -> list[bytes]:
    """The bodies of a multipart/related message (RFC 2046), or the body itself when it is not one."""
    if "boundary=" not in content_type:
        return [body] if body else []
    boundary = content_type.split("boundary=", 1)[1].split(";", 1)[0].strip().strip('"').encode()
    parts = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        _, sep, content = chunk.partition(b"\r\n\r\n")
        if sep:
            parts.append(content[:-2] if content.endswith(b"\r\n") else content)
    return parts


def _stow_failures(response: Any) -> str:
    """The Failed SOP Sequence of a STOW-RS answer, as 'UID: 0xA900' items, or its text cut short."""
    if response is None:
        return "-"
    try:
        body = response.json()
        failed = body.get("00081198", {}).get("Value", [])
        items = []
        for f in failed:
            uid = f.get("00081155", {}).get("Value", ["?"])[0]
            reason = int(f.get("00081197", {}).get("Value", [0])[0])
            items.append(f"{uid}: 0x{reason:04X}")
        if items:
            return ", ".join(items)
    except (ValueError, AttributeError, TypeError, IndexError):
        pass
    return " ".join((response.text or "").split())[:200] or "-"


def connect(url: str | None = None, user: str | None = None, password: str | None = None) -> PacsClient:
    """A client for ``url`` (default ``KNEEAI_PACS_URL``) with these credentials (default the environment's)."""
    settings = PacsSettings.from_env(url)
    if user is not None:
        settings = PacsSettings(settings.url, user, password, settings.timeout_s)
    return PacsClient(settings)
