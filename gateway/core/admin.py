"""Management messages (SPEC §4): their payloads and the checks that need no store.

The service runs the checks in the SPEC's order: envelope (:func:`decode_admin_envelope`),
upload key and signature (:func:`check_upload_signature`), payload shape and ``typ``
(:func:`decode_message`), issuer scope and timestamp (:func:`check_scope_and_time`); nonces,
kids and marks need the store and live in the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.crypto import PublicKey, verify_signature
from gateway.core.model import (
    CLOCK_SKEW,
    Colour,
    Domain,
    Envelope,
    IssuerCode,
    KeyId,
)
from gateway.core.wire import Malformed, decode_envelope, is_int, is_scalar, unpack_strict
from gateway.errors import BadRequest, BadSignature, BadTimestamp, IssuerScope

MAX_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class UploadKey:
    iss: IssuerCode
    key: PublicKey


@dataclass(frozen=True, slots=True)
class StatusEvent:
    sub: bytes
    colour: Colour
    sv: int
    at: int


@dataclass(frozen=True, slots=True)
class Message:
    typ: str
    iss: IssuerCode
    iat: int
    nonce: bytes


@dataclass(frozen=True, slots=True)
class KeyAdd(Message):
    alg: str
    spki: bytes
    nbf: int
    naf: int


@dataclass(frozen=True, slots=True)
class KeyRevoke(Message):
    kid: KeyId


@dataclass(frozen=True, slots=True)
class StatusUpdate(Message):
    seq: int
    events: tuple[StatusEvent, ...]


def decode_admin_envelope(body: bytes) -> Envelope:
    try:
        return decode_envelope(body, Domain.ADMIN)
    except Malformed as exc:
        raise BadRequest(f"not a management envelope: {exc}") from exc


def check_upload_signature(envelope: Envelope, upload_keys: Mapping[KeyId, UploadKey]) -> UploadKey:
    upload = upload_keys.get(envelope.kid)  # looked up before anything is hashed
    if upload is None:
        raise BadSignature("the kid is not an enrolled upload key")
    if upload.key.alg is not envelope.alg:
        raise BadSignature("the header alg is not the upload key's")
    if not verify_signature(upload.key, envelope.signed, envelope.signature):
        raise BadSignature("the signature does not verify under the upload key")
    return upload


def _take(fields: Mapping[str, Any], name: str, kind: type) -> Any:
    value = fields.get(name)
    ok = is_int(value) if kind is int else type(value) is kind
    if not ok:
        raise BadRequest(f"field {name!r} is missing or not {kind.__name__}")
    return value


def _event(raw: object, i: int) -> StatusEvent:
    if type(raw) is not list or len(raw) != 4:
        raise BadRequest(f"events[{i}] is not [sub, col, sv, at]")
    sub, col, sv, at = raw
    if type(sub) is not bytes or len(sub) != 16:
        raise BadRequest(f"events[{i}]: sub is not 16 bytes")
    if not (is_int(col) and col <= 2):
        raise BadRequest(f"events[{i}]: colour is not 0, 1 or 2")
    if not (is_int(sv) and is_int(at)):
        raise BadRequest(f"events[{i}]: sv and at are integers in 0 … 2^53 − 1")
    return StatusEvent(sub=sub, colour=Colour(col), sv=sv, at=at)


_KNOWN = frozenset(
    {"typ", "iss", "iat", "nonce", "alg", "spki", "nbf", "naf", "kid", "seq", "events"}
)


def decode_message(payload: bytes, expected_typ: str) -> Message:
    """Payload shape and ``typ`` (400 ``bad_request``)."""
    try:
        fields = unpack_strict(payload, max_array_len=MAX_EVENTS, max_map_len=64)
    except Malformed as exc:
        raise BadRequest(f"payload: {exc}") from exc
    if type(fields) is not dict or not all(type(k) is str for k in fields):
        raise BadRequest("payload is not a map with str keys")
    for name, value in fields.items():  # unknown keys: scalars only, as in codes (SPEC §2)
        if name not in _KNOWN and not is_scalar(value):
            raise BadRequest(f"field {name!r} is not a scalar")
    typ = _take(fields, "typ", str)
    if typ != expected_typ:
        raise BadRequest(f"typ {typ!r} does not belong here; expected {expected_typ!r}")
    iss = _take(fields, "iss", str)
    nonce = _take(fields, "nonce", bytes)
    if len(nonce) != 16:
        raise BadRequest("nonce is not 16 bytes")
    head = {"typ": typ, "iss": IssuerCode(iss), "iat": _take(fields, "iat", int), "nonce": nonce}
    if typ == "key.add":
        return KeyAdd(
            **head,
            alg=_take(fields, "alg", str),
            spki=_take(fields, "spki", bytes),
            nbf=_take(fields, "nbf", int),
            naf=_take(fields, "naf", int),
        )
    if typ == "key.revoke":
        kid = _take(fields, "kid", bytes)
        if len(kid) != 8:
            raise BadRequest("kid is not 8 bytes")
        return KeyRevoke(**head, kid=KeyId(kid))
    seq = fields.get("seq")
    if type(seq) is not int or not 1 <= seq <= 2**53 - 1:
        raise BadRequest("seq is not an integer ≥ 1")
    events = fields.get("events")
    if type(events) is not list:
        raise BadRequest("events is not an array")
    return StatusUpdate(**head, seq=seq, events=tuple(_event(e, i) for i, e in enumerate(events)))


def check_scope_and_time(message: Message, path_iss: str, upload: UploadKey, now: int) -> None:
    if not (message.iss == path_iss == upload.iss):
        raise IssuerScope("the path, the payload and the upload key name different issuers")
    if abs(now - message.iat) > CLOCK_SKEW:
        raise BadTimestamp(f"iat is {message.iat - now:+d} s from the hub's clock (±300 s)")


def nonce_ttl(message: Message, now: int) -> int:
    """A nonce is remembered while its ``iat`` could still be accepted."""
    return max(1, message.iat + CLOCK_SKEW - now + 1)
