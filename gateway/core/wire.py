"""Strict decoding and encoding of the HCM/1 wire format (SPEC §2, §3, §4).

The envelope and its protected header must be byte-for-byte what ``msgpack.packb`` writes, so
they are parsed by hand: that is both the strictest reading and the fastest. Payloads are
decoded by msgpack with every loophole of its defaults closed (duplicate keys, ext and timestamp
types, trailing bytes, bytes map keys, booleans or floats standing in for integers, integers
outside 0 … 2^53 − 1, deep nesting). Every failure here is a :class:`Malformed`; callers turn
it into the ``MALFORMED`` verdict (codes) or 400 ``bad_request`` (management messages).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

import msgpack

from gateway.core.model import (
    ADMIN_ENVELOPE_MAX,
    CODE_ENVELOPE_MAX,
    MAX_INT,
    Alg,
    Code,
    Colour,
    Domain,
    Envelope,
    KeyId,
)


class Malformed(ValueError):
    """Bytes that are not what SPEC §2–§4 allow. The message says which rule, for logs."""


_PROTECTED_PREFIX = {
    alg: msgpack.packb({1: alg.value, 4: b""}, use_bin_type=True)[:-1] + b"\x08" for alg in Alg
}
_PROTECTED_LEN = {alg: len(prefix) + 8 for alg, prefix in _PROTECTED_PREFIX.items()}
_PROTECTED_BY_BYTES = {prefix: alg for alg, prefix in _PROTECTED_PREFIX.items()}
_SIG_HEADER = b"\xc4\x40"
_DOMAIN_PREFIX = {d: b"\x93" + msgpack.packb(d.value) for d in Domain}
_ISS = re.compile(r"[0-9]{6}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
TEXT_PREFIX = "HCM1:"


def _read_bin(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a minimal bin header at ``pos``: (start of content, end of content)."""
    if pos >= len(buf):
        raise Malformed("truncated envelope")
    tag = buf[pos]
    if tag == 0xC4 and pos + 2 <= len(buf):
        n, start = buf[pos + 1], pos + 2
    elif tag == 0xC5 and pos + 3 <= len(buf):
        n, start = int.from_bytes(buf[pos + 1 : pos + 3], "big"), pos + 3
        if n < 0x100:
            raise Malformed("non-minimal bin length")
    elif tag == 0xC6 and pos + 5 <= len(buf):
        n, start = int.from_bytes(buf[pos + 1 : pos + 5], "big"), pos + 5
        if n < 0x10000:
            raise Malformed("non-minimal bin length")
    else:
        known = tag in (0xC4, 0xC5, 0xC6)
        raise Malformed("truncated envelope" if known else "envelope element is not bin")
    end = start + n
    if end > len(buf):
        raise Malformed("truncated envelope")
    return start, end


def _split(buf: bytes, limit: int) -> tuple[Alg, bytes, int, int]:
    """Check an envelope's shape and sizes: (alg, protected, payload start, payload end)."""
    if len(buf) > limit:
        raise Malformed(f"envelope over {limit} bytes")
    if not buf or buf[0] != 0x93:
        raise Malformed("envelope is not an array of three")
    p_start, p_end = _read_bin(buf, 1)
    protected = buf[p_start:p_end]
    alg = _PROTECTED_BY_BYTES.get(protected[:-8])
    if alg is None or len(protected) != _PROTECTED_LEN[alg]:
        raise Malformed("protected header is not exactly {1: alg, 4: kid}")
    b_start, b_end = _read_bin(buf, p_end)
    if buf[b_end : b_end + 2] != _SIG_HEADER:
        raise Malformed("signature is not bin of 64 bytes")
    if len(buf) != b_end + 2 + 64:
        raise Malformed("signature length or trailing bytes")
    return alg, protected, b_start, b_end


def decode_envelope(buf: bytes, domain: Domain, *, max_size: int | None = None) -> Envelope:
    """Split an envelope into its parts and the exact signed bytes; check shape and sizes."""
    limit = (
        max_size
        if max_size is not None
        else (CODE_ENVELOPE_MAX if domain is Domain.CODE else ADMIN_ENVELOPE_MAX)
    )
    alg, protected, b_start, b_end = _split(buf, limit)
    return Envelope(
        alg=alg,
        kid=KeyId(protected[-8:]),
        payload=buf[b_start:b_end],
        signature=buf[b_end + 2 :],
        signed=_DOMAIN_PREFIX[domain] + buf[1:b_end],
    )


def encode_envelope(
    domain: Domain, alg: Alg, kid: bytes, payload: bytes, sign: Callable[[bytes], bytes]
) -> bytes:
    """The one way to build an envelope: what the simulator, the hub's trust list and tests use."""
    if len(kid) != 8:
        raise ValueError("kid is 8 bytes")
    protected = _PROTECTED_PREFIX[alg] + kid
    signed = msgpack.packb([domain.value, protected, payload], use_bin_type=True)
    signature = sign(signed)
    envelope: bytes = msgpack.packb([protected, payload, signature], use_bin_type=True)
    return envelope


# -- payloads ---------------------------------------------------------------------------------


def _pairs_no_duplicates(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise Malformed("duplicate map key")
    return out


def _refuse_ext(code: int, data: bytes) -> Any:
    raise Malformed("ext types are not allowed")


def unpack_strict(buf: bytes, *, max_array_len: int = -1, max_map_len: int = -1) -> Any:
    """msgpack with the loopholes closed; the shape checks that follow do the rest."""
    try:
        return msgpack.unpackb(
            buf,
            raw=False,
            strict_map_key=False,  # code payloads have integer keys; shapes are checked after
            object_pairs_hook=_pairs_no_duplicates,
            ext_hook=_refuse_ext,
            timestamp=0,
            max_array_len=max_array_len,
            max_map_len=max_map_len,
        )
    except Malformed:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # msgpack raises all three
        raise Malformed(f"payload is not strict msgpack: {type(exc).__name__}") from exc


def is_int(value: object) -> bool:
    """An integer of SPEC §2: not a bool, within 0 … 2^53 − 1."""
    return type(value) is int and 0 <= value <= MAX_INT


def is_scalar(value: object) -> bool:
    if type(value) is int:
        return is_int(value)
    return value is None or type(value) in (bool, float, str, bytes)


_SCALAR_TYPES = frozenset({type(None), bool, float, str, bytes})  # and int, checked for range
_COLOURS = tuple(Colour)
_CODE_PREFIX = _DOMAIN_PREFIX[Domain.CODE]
_iss_ok = _ISS.fullmatch
_tuple = tuple.__new__


def _map_len(buf: bytes) -> int:
    """The entry count in the map header at the start of ``buf``; -1 when it is not a map."""
    tag = buf[0] if buf else 0
    if 0x80 <= tag <= 0x8F:
        return tag & 0x0F
    if tag == 0xDE:
        return int.from_bytes(buf[1:3], "big")
    if tag == 0xDF:
        return int.from_bytes(buf[1:5], "big")
    return -1


def decode_code(buf: bytes) -> Code:
    """Decode an envelope holding a health code and its claims (SPEC §3).

    The hot path of every new code, so written for few objects: one plain msgpack pass, then
    the checks of :func:`unpack_strict` done over the result. A duplicate key shows as a map
    that holds fewer entries than its header counts (the same test ``dict(pairs)`` made); ext
    values come back as objects no claim may hold, and only scalars are allowed below the map.
    """
    alg, protected, b_start, b_end = _split(buf, CODE_ENVELOPE_MAX)
    payload = buf[b_start:b_end]
    try:
        claims = msgpack.unpackb(
            payload, raw=False, strict_map_key=False, ext_hook=_refuse_ext, timestamp=0
        )
    except Malformed:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # msgpack raises all three
        raise Malformed(f"payload is not strict msgpack: {type(exc).__name__}") from exc
    if type(claims) is not dict:
        raise Malformed("code payload is not a map")
    if len(claims) != _map_len(payload):
        raise Malformed("duplicate map key")
    for key, value in claims.items():
        if type(key) is not int or not 0 <= key <= MAX_INT:
            raise Malformed("code payload key is not an integer in range")
        if type(value) is int:
            if not 0 <= value <= MAX_INT:
                raise Malformed(f"claim {key} is not an integer in range")
        elif type(value) not in _SCALAR_TYPES:
            raise Malformed(f"claim {key} is not a scalar")
    iss, cid, sub, nm = claims.get(1), claims.get(2), claims.get(9), claims.get(10)
    exp, iat, col, sv = claims.get(4), claims.get(6), claims.get(7), claims.get(8)
    if type(iss) is not str or not _iss_ok(iss):
        raise Malformed("iss is not six ASCII digits")
    if type(cid) is not bytes or type(sub) is not bytes or len(cid) != 16 or len(sub) != 16:
        raise Malformed("cid and sub are 16 bytes")
    if type(exp) is not int or type(iat) is not int or type(sv) is not int:
        raise Malformed("exp, iat and sv are integers in range")
    if type(col) is not int or col > 2:
        raise Malformed("col is not 0, 1 or 2")
    if nm is not None and (type(nm) is not str or len(nm) > 16):
        raise Malformed("nm is not a str of at most 16 code points")
    # tuple.__new__ straight: a NamedTuple's own __new__ is a Python call
    envelope = _tuple(
        Envelope, (alg, protected[-8:], payload, buf[b_end + 2 :], _CODE_PREFIX + buf[1:b_end])
    )
    return _tuple(Code, (envelope, iss, cid, exp, iat, _COLOURS[col], sv, sub, nm))


def decode_text(text: str) -> bytes:
    """``HCM1:`` + base64url without padding → envelope bytes (SPEC §3, text form)."""
    if not text.startswith(TEXT_PREFIX):
        raise Malformed("text code does not start with HCM1:")
    body = text[len(TEXT_PREFIX) :]
    if len(body) > (CODE_ENVELOPE_MAX * 4 + 2) // 3 or not _B64URL.fullmatch(body):
        raise Malformed("text code is not base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise Malformed("text code is not base64url") from exc
    if encode_b64url(raw) != body:  # refuses non-zero padding bits: one code, one spelling
        raise Malformed("text code is not canonical base64url")
    return raw


def encode_b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def encode_text(envelope: bytes) -> str:
    return TEXT_PREFIX + encode_b64url(envelope)
