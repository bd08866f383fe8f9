"""Codes as the simulator knows them: the envelope bytes and the truth behind them.

The truth is what the oracle needs to predict the hub's verdict: the claims as signed, the
header's ``alg`` and ``kid``, and which key really made the signature (``signer``). A code
whose bytes were changed after signing, or signed by a key other than the header's, has a
``signer`` that differs from its ``kid``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from provinces_sim.wire import Claims


class Kind(enum.StrEnum):
    """How a scanned code came to be: the simulator's label, not the hub's reason."""

    CURRENT = "current"  # the code on the traveller's phone
    SCREENSHOT = "screenshot"  # an older code of the same resident, still unexpired
    EXPIRED = "expired"
    TAMPERED_PAYLOAD = "tampered-payload"  # colour changed after signing
    TAMPERED_SIGNATURE = "tampered-signature"
    FORGED_OTHER_ISSUER = "forged-other-issuer"  # signed with another province's key
    FORGED_UNKNOWN_KEY = "forged-unknown-key"  # an attacker's own key
    FORGED_SPOOFED_KID = "forged-spoofed-kid"  # the issuer's kid, the attacker's signature
    ALG_SWAPPED = "alg-swapped"  # header alg is not the key's (an SM2 code's says ES256)
    SM2_R_ZERO = "sm2-r-zero"  # an SM2 issuer's code, its signature's r set to 0
    SM2_S_OVER_N = "sm2-s-over-n"  # an SM2 issuer's code, its signature's s moved to n or above
    SM2_UNDER_ES256 = "sm2-under-es256"  # an SM2 signature under an ES256 issuer's key and alg
    UNKNOWN_ISSUER = "unknown-issuer"
    MALFORMED = "malformed"
    FUTURE = "future"  # iat beyond the clock skew
    OVERLONG = "overlong"  # exp − iat over 86,400 s
    REPLAYED_REVOKED = "replayed-revoked"  # issued under a key that was revoked since
    FORGED_LEAKED_KEY = "forged-leaked-key"  # made with a compromised key after its revocation
    SWEEP = "sweep"  # end-of-run check: an old-sv code for every resident


@dataclass(frozen=True, slots=True)
class CodeTruth:
    kind: Kind
    alg: str  # the header's
    kid: bytes  # the header's
    signer: bytes | None  # kid of the key whose signature covers these exact bytes
    claims: Claims | None  # None: the bytes do not decode (MALFORMED)


@dataclass(frozen=True, slots=True)
class IssuedCode:
    envelope: bytes
    truth: CodeTruth
