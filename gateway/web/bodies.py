"""Reading request bodies within their limits, and turning them into codes (SPEC §5).

Body shapes are the web layer's business; what a code's bytes mean is the core's. An element
that is not a code becomes ``None`` here and a ``MALFORMED`` verdict in the service.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgpack
from aiohttp import web

from gateway.core.model import CODE_ENVELOPE_MAX
from gateway.core.wire import Malformed, decode_text
from gateway.errors import BadRequest, BatchTooLarge, BodyTooLarge, UnsupportedMediaType
from gateway.web.protocol import send_continue

SINGLE_MAX = 4 * 1024
BATCH_MAX = 2 * 1024 * 1024
ADMIN_MAX = 1024 * 1024
MAX_BATCH = 1000
MSGPACK, JSON, TEXT = "application/msgpack", "application/json", "text/plain"


def media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


async def read_body(
    request: web.Request, limit: int, allowed: tuple[str, ...]
) -> tuple[str, bytes]:
    """(media type, body), or 413 then 415 in the SPEC's precedence."""
    _check_head(request.content_length, request.headers, limit)
    await send_continue(request)  # only now: a 413 or 415 above is answered without a 100
    chunks, total = [], 0
    try:
        async for chunk in request.content.iter_any():
            total += len(chunk)
            if total > limit:
                raise BodyTooLarge(f"the body is over {limit} bytes")
            chunks.append(chunk)
    except web.RequestPayloadError as exc:  # a broken chunked encoding or a short body
        raise BadRequest("the body is not well-formed (chunked encoding or length)") from exc
    except ConnectionResetError as exc:  # the client went away: its error, not the hub's 500
        raise BadRequest("the connection closed before the body was complete") from exc
    return _kind(request.headers, allowed), b"".join(chunks)


async def whole_body(
    headers: Mapping[str, str], body: bytes, limit: int, allowed: tuple[str, ...]
) -> tuple[str, bytes]:
    """``read_body`` for a body that has arrived whole (``gateway.web.fastpath``)."""
    _check_head(len(body), headers, limit)
    return _kind(headers, allowed), body


def _check_head(length: int | None, headers: Mapping[str, str], limit: int) -> None:
    if length is not None and length > limit:
        raise BodyTooLarge(f"the body is over {limit} bytes")
    # Checked before reading. The hub's listener does not inflate bodies (web.connections), so any
    # encoding, br and zstd included, reaches this 415.
    encoding = headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", ""):
        raise UnsupportedMediaType("a body with a Content-Encoding is not accepted; send identity")


def _kind(headers: Mapping[str, str], allowed: tuple[str, ...]) -> str:
    kind = media_type(headers.get("Content-Type"))
    if kind not in allowed:
        raise UnsupportedMediaType(f"Content-Type must be one of {', '.join(allowed)}")
    return kind


def _from_text(text: Any) -> bytes | None:
    if type(text) is not str:
        return None
    try:
        return decode_text(text)
    except Malformed:
        return None


def _json(body: bytes) -> Any:
    """Strict JSON (RFC 8259 §8.1, I-JSON RFC 7493): UTF-8 without a BOM, unique member names,
    no NaN or Infinity, and nesting no deeper than the parser's stack. ``json.loads`` alone
    guesses UTF-16 and UTF-32 from bytes, keeps the last of duplicate names, reads ``NaN``, and
    raises RecursionError for ``[`` × 2,000."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the JSON body is not UTF-8") from exc
    if text.startswith("\ufeff"):
        raise BadRequest("the JSON body starts with a byte order mark")
    try:
        return json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except RecursionError as exc:
        raise BadRequest("the JSON body is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, a duplicate name, NaN, a 5,000-digit integer
        raise BadRequest(f"the body is not strict JSON ({_reason(exc)})") from exc


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise ValueError("a member name is repeated")
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _reason(exc: ValueError) -> str:
    # The decoder's message names a position, never the body's bytes; ours name no value.
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(":")[0][:80]


def single_code(kind: str, body: bytes) -> bytes | None:
    """The envelope of a single-code body; ``None`` when what was sent is not a code."""
    if kind == MSGPACK:
        return body if len(body) <= CODE_ENVELOPE_MAX else None
    if kind == TEXT:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        for ending in ("\r\n", "\n"):
            if text.endswith(ending):
                text = text[: -len(ending)]
                break
        return _from_text(text)
    doc = _json(body)
    if type(doc) is not dict or type(doc.get("code")) is not str:
        raise BadRequest('the JSON body is not {"code": "HCM1:…"}')
    return _from_text(doc["code"])


def batch_codes(kind: str, body: bytes) -> list[bytes | None]:
    if kind == MSGPACK:
        try:
            head = msgpack.Unpacker()
            head.feed(body[:5])
            count = head.read_array_header()
        except (ValueError, msgpack.UnpackException) as exc:
            raise BadRequest("the body is not a msgpack array") from exc
        if count > MAX_BATCH:
            raise BatchTooLarge(f"{count} codes; a batch holds at most {MAX_BATCH}")
        try:
            items = msgpack.unpackb(
                body, raw=False, unicode_errors="surrogateescape", strict_map_key=False, timestamp=0
            )
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise BadRequest("the body is not one msgpack array") from exc
        if type(items) is not list:
            raise BadRequest("the body is not a msgpack array")
    else:
        doc = _json(body)
        items = doc.get("codes") if type(doc) is dict else None
        if type(items) is not list:
            raise BadRequest('the JSON body is not {"codes": [...]}')
        if len(items) > MAX_BATCH:
            raise BatchTooLarge(f"{len(items)} codes; a batch holds at most {MAX_BATCH}")
    return [
        (item if len(item) <= CODE_ENVELOPE_MAX else None)
        if type(item) is bytes
        else _from_text(item)
        for item in items
    ]


def wants_msgpack(accept: str | None) -> bool:
    """True when the highest-ranked Accept range is application/msgpack (q, then specificity)."""
    best: tuple[float, int, int] | None = None
    best_type = ""
    for position, part in enumerate((accept or "").split(",")):
        fields = part.split(";")
        kind = fields[0].strip().lower()
        if not kind:
            continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        specificity = 0 if kind == "*/*" else 1 if kind.endswith("/*") else 2
        rank = (q, specificity, -position)
        if q > 0 and (best is None or rank > best):
            best, best_type = rank, kind
    return best_type == MSGPACK
