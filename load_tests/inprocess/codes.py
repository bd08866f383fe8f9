"""A realistic code, signed by the gateway's own core: what ``layers`` and the benchmark's
micro-measurements (``bench.micro``) verify in process."""

from __future__ import annotations

import os
from typing import Any

import msgpack

from gateway.core.crypto import PrivateKey, sign
from gateway.core.model import Domain, IssuerCode
from gateway.core.wire import encode_envelope

ISS = IssuerCode("440000")


def claims(now: int, subject: bytes | None = None) -> dict[int, Any]:
    """A code's claims as SPEC §2 has them: valid for an hour from ``now``; a random subject
    unless one is given."""
    return {
        1: ISS,
        2: os.urandom(16),
        4: now + 3600,
        6: now,
        7: 0,
        8: 1,
        9: os.urandom(16) if subject is None else subject,
        10: "张*",
    }


def our_code(key: PrivateKey, claims: dict[int, Any]) -> bytes:
    payload = msgpack.packb(claims, use_bin_type=True)
    return encode_envelope(
        Domain.CODE, key.public.alg, key.public.kid, payload, lambda m: sign(key, m)
    )
