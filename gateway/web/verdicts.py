"""Verdicts on the wire (SPEC §3.2): the same ten keys in JSON or msgpack, in SPEC order.

A batch of 100 verdicts used to be 100 dicts of ten entries, then the standard library's JSON
encoder (its largest single cost, BENCHMARKS.md). Here each verdict becomes one
``msgspec.Struct`` built positionally, and msgspec encodes the list in C, as JSON or as msgpack
(docs/decisions.md: msgspec over orjson, measured with load_tests/perf/render.py). A key id is
rendered once per key, not once per code.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from typing import Any

import msgspec

from gateway.core.model import Colour, Verdict


class _Doc(msgspec.Struct, omit_defaults=False):
    """One verdict as answered: field names and order are SPEC §3.2's."""

    valid: bool
    reason: str | None
    iss: str | None
    kid: str | None
    cid: str | None
    colour: str | None
    code_colour: str | None
    status_sv: int | None
    exp: int | None
    nm: str | None


_JSON = msgspec.json.Encoder()
_MSGPACK = msgspec.msgpack.Encoder()
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_LABEL: dict[Colour | None, str | None] = {None: None, **{c: c.label for c in Colour}}
_KIDS_HELD = 4096  # key ids rendered and kept; a client's unknown kids must not grow it for ever
_kids: dict[bytes, str] = {}


def _b64url(raw: bytes) -> str:
    """base64url without padding (SPEC §3.2), as ``wire.encode_b64url`` writes it."""
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _kid(kid: bytes | None) -> str | None:
    if kid is None:
        return None
    text = _kids.get(kid)
    if text is None:
        if len(_kids) >= _KIDS_HELD:
            _kids.clear()
        text = _kids[kid] = _b64url(kid)
    return text


def _doc(v: Verdict) -> _Doc:
    return _Doc(
        v.valid,
        None if v.reason is None else v.reason.value,
        v.iss,
        _kid(v.kid),
        None if v.cid is None else _b64url(v.cid),
        _LABEL[v.colour],
        _LABEL[v.code_colour],
        v.status_sv,
        v.exp,
        v.nm,
    )


def render_verdict(v: Verdict) -> dict[str, Any]:
    """The verdict as a mapping, key for key what the encoders below write."""
    return msgspec.structs.asdict(_doc(v))


def encode_verdict(v: Verdict, *, as_msgpack: bool) -> bytes:
    return (_MSGPACK if as_msgpack else _JSON).encode(_doc(v))


def encode_verdicts(verdicts: Sequence[Verdict], *, as_msgpack: bool) -> bytes:
    return (_MSGPACK if as_msgpack else _JSON).encode([_doc(v) for v in verdicts])
