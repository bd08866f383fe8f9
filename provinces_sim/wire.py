"""The bytes of HCM/1 (SPEC §2–§4), written from SPEC.md: envelopes, codes, management messages.

An envelope is ``packb([protected, payload, signature])`` with ``protected = packb({1: alg,
4: kid})`` and the signature over ``packb([DOMAIN, protected, payload])``. msgpack's own
``packb`` (with ``use_bin_type=True``) writes the minimal forms SPEC §2 requires, so nothing
here is hand-encoded. ``open_envelope`` reads one back, for the hub's trust list.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import msgpack

from provinces_sim.crypto import SigningKey

CODE = "HCM1"
ADMIN = "HCM1-ADMIN"
TRUST = "HCM1-TRUST"
TEXT_PREFIX = "HCM1:"
MAX_CODE_LIFETIME = 86_400
CLOCK_SKEW = 300
MAX_EVENTS = 10_000


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def protected_header(alg: str, kid: bytes) -> bytes:
    return pack({1: alg, 4: kid})


def assemble(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    return pack([protected, payload, signature])


def signed_bytes(domain: str, protected: bytes, payload: bytes) -> bytes:
    return pack([domain, protected, payload])


def seal(
    domain: str,
    key: SigningKey,
    payload: bytes,
    *,
    alg: str | None = None,
    kid: bytes | None = None,
) -> bytes:
    """Sign ``payload`` with ``key``. ``alg`` and ``kid`` override the header (for forgeries)."""
    protected = protected_header(alg or key.alg, kid or key.kid)
    return assemble(protected, payload, key.sign(signed_bytes(domain, protected, payload)))


@dataclass(frozen=True, slots=True)
class Claims:
    """The payload of a health code (SPEC §3)."""

    iss: str
    cid: bytes
    exp: int
    iat: int
    col: int
    sv: int
    sub: bytes
    nm: str | None

    def payload(self) -> bytes:
        fields: dict[int, Any] = {
            1: self.iss,
            2: self.cid,
            4: self.exp,
            6: self.iat,
            7: self.col,
            8: self.sv,
            9: self.sub,
        }
        if self.nm is not None:
            fields[10] = self.nm
        return pack(fields)


def message_payload(typ: str, iss: str, iat: int, nonce: bytes, **fields: Any) -> bytes:
    """A management message's payload (SPEC §4): str keys, ``typ``, ``iss``, ``iat``, ``nonce``."""
    return pack({"typ": typ, "iss": iss, "iat": iat, "nonce": nonce, **fields})


def text_form(envelope: bytes) -> str:
    """What a QR scanner reads: ``HCM1:`` and the envelope in base64url without padding."""
    return TEXT_PREFIX + b64url(envelope)


@dataclass(frozen=True, slots=True)
class Opened:
    protected: bytes
    alg: str
    kid: bytes
    payload: bytes
    signature: bytes
    signed: bytes


def open_envelope(buf: bytes, domain: str) -> Opened:
    """Split an envelope (raises ``ValueError`` when it is not one); the signature is unchecked."""
    try:
        parts = msgpack.unpackb(buf, raw=False)
        protected, payload, signature = parts
        header = msgpack.unpackb(protected, raw=False, strict_map_key=False)
        alg, kid = header[1], header[4]
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise ValueError(f"not an HCM/1 envelope: {exc}") from exc
    if not all(isinstance(p, bytes) for p in parts) or not isinstance(alg, str):
        raise ValueError("not an HCM/1 envelope: elements are not bin")
    return Opened(protected, alg, kid, payload, signature, signed_bytes(domain, protected, payload))
