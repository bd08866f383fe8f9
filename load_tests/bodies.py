"""What a verifier client posts (SPEC §5), pre-serialised to the exact bytes of an HTTP request.

Every request is built before the run (wrk's advice: pre-generate requests), so the hot loop
only writes bytes. Single codes go to ``/v1/verify`` as ``application/msgpack`` (the envelope),
``text/plain`` (``HCM1:…``) or JSON; batches go to ``/v1/verify/batch`` as a msgpack array of
bin or JSON ``{"codes": […]}``. Requests are HTTP/1.1 with keep-alive.
"""

from __future__ import annotations

import base64
import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import msgpack

from load_tests.corpus import CorpusCode

ENCODINGS = ("msgpack", "text", "json")


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how requests go. ``batch`` 0 sends single codes to /v1/verify."""

    url: str  # http://127.0.0.1:PORT (loopback only: checked by the CLI)
    token: str | None = None
    batch: int = 0
    encoding: str = "msgpack"
    path: str | None = None  # default: /v1/verify or /v1/verify/batch

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"{self.url}: only http://host:port is supported")
        return parts.hostname, parts.port or 80

    @property
    def request_path(self) -> str:
        if self.path:
            return self.path
        return "/v1/verify/batch" if self.batch else "/v1/verify"

    @property
    def codes_per_request(self) -> int:
        return max(1, self.batch)


def text_form(envelope: bytes) -> str:
    return "HCM1:" + base64.urlsafe_b64encode(envelope).rstrip(b"=").decode()


def body_for(target: Target, envelopes: Sequence[bytes]) -> tuple[str, bytes]:
    """(content type, body) for these codes."""
    if target.batch:
        if target.encoding == "msgpack":
            return "application/msgpack", msgpack.packb(list(envelopes), use_bin_type=True)
        if target.encoding == "json":
            doc = {"codes": [text_form(e) for e in envelopes]}
            return "application/json", json.dumps(doc, separators=(",", ":")).encode()
        raise ValueError(f"a batch is sent as msgpack or json, not {target.encoding}")
    (envelope,) = envelopes
    if target.encoding == "msgpack":
        return "application/msgpack", envelope
    if target.encoding == "text":
        return "text/plain", text_form(envelope).encode()
    if target.encoding == "json":
        return "application/json", json.dumps({"code": text_form(envelope)}).encode()
    raise ValueError(f"unknown encoding {target.encoding!r}")


def http_request(target: Target, content_type: str, body: bytes) -> bytes:
    host, port = target.host_port
    lines = [
        f"POST {target.request_path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Accept: application/json",
    ]
    if target.token:
        lines.append(f"Authorization: Bearer {target.token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class RequestBook:
    """The request bytes of each slot: slot ``i`` carries draws ``i*b … i*b+b-1`` (wrapping)."""

    def __init__(self, target: Target, codes: Sequence[CorpusCode], draws: array[int]) -> None:
        self.target = target
        self.codes = codes
        self.draws = draws
        self._single: dict[int, bytes] = {}  # repeated codes share one bytes object

    def draws_of(self, slot: int) -> list[int]:
        b, n = self.target.codes_per_request, len(self.draws)
        return [self.draws[(slot * b + t) % n] for t in range(b)]

    def request(self, slot: int) -> bytes:
        draws = self.draws_of(slot)
        if not self.target.batch:
            (d,) = draws
            cached = self._single.get(d)
            if cached is None:
                cached = http_request(self.target, *body_for(self.target, [self.codes[d].code]))
                self._single[d] = cached
            return cached
        return http_request(
            self.target, *body_for(self.target, [self.codes[d].code for d in draws])
        )
