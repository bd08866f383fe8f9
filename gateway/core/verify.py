"""The verification steps of SPEC §3.1, in order, as plain functions.

``verify`` runs them all. The service runs the same steps in two halves, so that the signature
check in between can come from a cache: :func:`find_key` (steps 2–6, against the trust snapshot)
and :func:`judge` (the signature's outcome, then time and colour). Both halves are the only
place these rules live.
"""

from __future__ import annotations

from gateway.core.crypto import verify_signature
from gateway.core.model import (
    CLOCK_SKEW,
    MAX_CODE_LIFETIME,
    Code,
    Reason,
    Status,
    Verdict,
)
from gateway.core.trust import KeyRecord, TrustSnapshot


def find_key(code: Code, trust: TrustSnapshot) -> KeyRecord | Verdict:
    """Steps 2–6: the key that must have signed ``code``, or the verdict that stops here."""
    kid = code.envelope.kid

    def reject(reason: Reason) -> Verdict:
        return Verdict(valid=False, reason=reason, iss=code.iss, kid=kid)

    if code.iss not in trust.issuers:
        return reject(Reason.UNKNOWN_ISSUER)
    record = trust.keys.get(kid)
    if record is None:
        return reject(Reason.UNKNOWN_KID)
    if record.iss != code.iss:
        return reject(Reason.ISSUER_KEY_MISMATCH)
    if code.envelope.alg is not record.key.alg:
        return reject(Reason.ALG_MISMATCH)
    if record.revoked:
        return reject(Reason.KEY_REVOKED)
    if not (record.nbf <= code.iat <= record.naf) or code.exp - code.iat > MAX_CODE_LIFETIME:
        return reject(Reason.KEY_NOT_VALID)
    return record


def signature_holds(code: Code, record: KeyRecord) -> bool:
    """Step 7 alone: the registered key's algorithm decides, never the header's."""
    return verify_signature(record.key, code.envelope.signed, code.envelope.signature)


def judge(code: Code, signature_valid: bool, now: int, status: Status | None) -> Verdict:
    """Steps 7–9 given the signature's outcome, then the effective colour."""
    if not signature_valid:
        return Verdict(
            valid=False, reason=Reason.BAD_SIGNATURE, iss=code.iss, kid=code.envelope.kid
        )
    for failed, reason in (
        (code.iat > now + CLOCK_SKEW, Reason.NOT_YET_VALID),
        (now >= code.exp, Reason.EXPIRED),
    ):
        if failed:
            return Verdict(
                valid=False,
                reason=reason,
                iss=code.iss,
                kid=code.envelope.kid,
                cid=code.cid,
                exp=code.exp,
                nm=code.nm,
                code_colour=code.col,
            )
    use_status = status is not None and status.sv >= code.sv
    return Verdict(
        valid=True,
        iss=code.iss,
        kid=code.envelope.kid,
        cid=code.cid,
        colour=status.colour if use_status and status is not None else code.col,
        code_colour=code.col,
        status_sv=status.sv if status is not None else None,
        exp=code.exp,
        nm=code.nm,
    )


def verify(code: Code, trust: TrustSnapshot, now: int, status: Status | None) -> Verdict:
    """All of SPEC §3.1 for a decoded code (decoding is step 1, in ``wire``)."""
    found = find_key(code, trust)
    if isinstance(found, Verdict):
        return found
    return judge(code, signature_holds(code, found), now, status)
