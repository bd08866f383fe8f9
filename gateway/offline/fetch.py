"""Fetching from the hub for an offline verifier: its key and its signed trust list (SPEC §6).

The standard library's HTTP client, so a terminal needs nothing but this package and the
core's crypto. Every failure is a :class:`FetchFailed` whose message is one line: the hub could
not be reached, or it answered with SPEC §7's ``{"error", "detail"}``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from gateway.offline.verifier import OfflineError

TIMEOUT = 10.0


class FetchFailed(OfflineError):
    pass


@dataclass(frozen=True, slots=True)
class Fetched:
    """A ``GET /v1/trustlist`` answer: the signed bytes, or ``None`` on 304 Not Modified."""

    envelope: bytes | None
    etag: str | None


def _url(base: str, path: str) -> str:
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FetchFailed(f"--url must be http://host:port or https://host:port, not {base!r}")
    return base.rstrip("/") + path


def _get(url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 - http(s) only, checked by _url
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - as above
            return int(response.status), response.read(), response.headers
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return 304, b"", exc.headers
        raise FetchFailed(f"GET {url}: {exc.code} {_error_of(exc.read())}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchFailed(f"the hub at {url} is unreachable: {reason}") from exc


def _error_of(body: bytes) -> str:
    try:
        doc = json.loads(body)
        return f"{doc['error']}: {doc.get('detail', '')}".rstrip(": ")
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace") or "(no body)"


def fetch_key(base: str, *, timeout: float = TIMEOUT) -> bytes:
    """The body of ``GET /v1/trustlist/key`` (JSON ``{"alg", "spki"}``); no token needed."""
    url = _url(base, "/v1/trustlist/key")
    _, body, _ = _get(url, {"Accept": "application/json"}, timeout)
    return body


def fetch_list(
    base: str, token: str, *, etag: str | None = None, timeout: float = TIMEOUT
) -> Fetched:
    """``GET /v1/trustlist`` with the client's bearer token, ``If-None-Match`` when held."""
    url = _url(base, "/v1/trustlist")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/msgpack"}
    if etag:
        headers["If-None-Match"] = etag
    status, body, response_headers = _get(url, headers, timeout)
    new_etag = response_headers.get("ETag") if response_headers is not None else None
    return Fetched(None if status == 304 else body, new_etag or etag)
