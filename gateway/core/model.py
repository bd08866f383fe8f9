"""Value objects and closed sets of the contract (SPEC §2, §3).

Enum values are the wire strings of SPEC §3.2 and §7: add members, never rename them.

A decoded :class:`Code` (with its :class:`Envelope`) and a :class:`Verdict` are made for every
code the hub sees, so they are ``NamedTuple``s rather than frozen dataclasses: a tuple is built
in C, where a frozen dataclass assigns each field through ``object.__setattr__``
(docs/decisions.md). They are as immutable, and typed the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple, NewType

IssuerCode = NewType("IssuerCode", str)  # six ASCII digits, GB/T 2260 (SPEC §1)
KeyId = NewType("KeyId", bytes)  # first 8 bytes of SHA-256(SPKI DER)

MAX_INT = 2**53 - 1
CODE_ENVELOPE_MAX = 1024
ADMIN_ENVELOPE_MAX = 1024 * 1024
MAX_CODE_LIFETIME = 86_400
CLOCK_SKEW = 300


class Domain(enum.StrEnum):
    CODE = "HCM1"
    ADMIN = "HCM1-ADMIN"
    TRUST = "HCM1-TRUST"


class Alg(enum.StrEnum):
    ED25519 = "Ed25519"
    ES256 = "ES256"
    SM2 = "SM2"  # SM2 with SM3 over sm2p256v1, the default user ID (SPEC §2)


class Colour(enum.IntEnum):
    GREEN = 0
    YELLOW = 1
    RED = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Reason(enum.StrEnum):
    """Why a code is not valid, in the order of the steps of SPEC §3.1."""

    MALFORMED = "MALFORMED"
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
    ISSUER_KEY_MISMATCH = "ISSUER_KEY_MISMATCH"
    UNKNOWN_KID = "UNKNOWN_KID"
    ALG_MISMATCH = "ALG_MISMATCH"
    KEY_REVOKED = "KEY_REVOKED"
    KEY_NOT_VALID = "KEY_NOT_VALID"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"


class Envelope(NamedTuple):
    """A decoded envelope. ``signed`` is the exact byte string the signature covers."""

    alg: Alg
    kid: KeyId
    payload: bytes
    signature: bytes
    signed: bytes


class Code(NamedTuple):
    """The claims of a health code (SPEC §3), with the envelope they came in."""

    envelope: Envelope
    iss: IssuerCode
    cid: bytes
    exp: int
    iat: int
    col: Colour
    sv: int
    sub: bytes
    nm: str | None


@dataclass(frozen=True, slots=True)
class Status:
    """The hub's stored status of one subject."""

    colour: Colour
    sv: int


class Verdict(NamedTuple):
    """The answer for one code (SPEC §3.2); ``kid`` and ``cid`` are raw bytes here."""

    valid: bool
    reason: Reason | None = None
    iss: IssuerCode | None = None
    kid: KeyId | None = None
    cid: bytes | None = None
    colour: Colour | None = None
    code_colour: Colour | None = None
    status_sv: int | None = None
    exp: int | None = None
    nm: str | None = None


MALFORMED = Verdict(valid=False, reason=Reason.MALFORMED)
