"""The bad codes a scenario mixes into the traffic, each with the truth the oracle needs.

An attacker holds keys of its own (never registered), may have an insider's copy of another
province's key, captures codes from the air, and, after a key compromise, holds the leaked
key. The oracle, not this module, decides what the hub must answer: the labels here are only
how the code was made.

Three kinds exist for SM2 (SPEC §2), made whatever issuer the caller drew, like the leaked-key
kinds: an SM2 issuer's code whose signature has ``r = 0``, or ``s`` moved to ``n`` or above (the
range check must refuse them before any arithmetic), and an SM2 signature over a code claiming
an ES256 issuer, under that issuer's kid with ``alg`` ES256 (the registry's key decides how to
verify, and P-256 must not accept an SM2 signature of the same ``r || s`` shape). A kind whose
issuers the world lacks (no SM2 or no ES256 issuer) is left out of ``kinds``.
"""

from __future__ import annotations

import dataclasses
import os
import random

from provinces_sim.census import ED25519, ES256, SM2
from provinces_sim.codes import CodeTruth, IssuedCode, Kind
from provinces_sim.crypto import ALGS, SM2_N, SigningKey, raw_signature, split_signature
from provinces_sim.issuer import Issuer, Resident
from provinces_sim.wire import CODE, Claims, assemble, open_envelope, seal

UNENROLLED_ISS = "990000"  # six digits, but no issuer the hub enrols

# Relative weights of the kinds that exist from the start; the two that need a leaked key
# join after a compromise.
BASE_KINDS: dict[Kind, float] = {
    Kind.EXPIRED: 5,
    Kind.TAMPERED_PAYLOAD: 3,
    Kind.TAMPERED_SIGNATURE: 2,
    Kind.FORGED_OTHER_ISSUER: 3,
    Kind.FORGED_UNKNOWN_KEY: 2,
    Kind.FORGED_SPOOFED_KID: 2,
    Kind.ALG_SWAPPED: 1,
    Kind.UNKNOWN_ISSUER: 1,
    Kind.MALFORMED: 1,
    Kind.FUTURE: 1,
    Kind.OVERLONG: 1,
    Kind.SM2_R_ZERO: 1,
    Kind.SM2_S_OVER_N: 1,
    Kind.SM2_UNDER_ES256: 1,
}
AFTER_COMPROMISE: dict[Kind, float] = {Kind.REPLAYED_REVOKED: 4, Kind.FORGED_LEAKED_KEY: 2}
# The algorithms a kind needs issuers of (the claimed issuer's first).
NEEDS: dict[Kind, tuple[str, ...]] = {
    Kind.SM2_R_ZERO: (SM2,),
    Kind.SM2_S_OVER_N: (SM2,),
    Kind.SM2_UNDER_ES256: (ES256, SM2),
}
# What an ALG_SWAPPED header says instead: an SM2 code says ES256 (the same r || s shape),
# the other two say either of the remaining algorithms.
_SWAPS: dict[str, tuple[str, ...]] = {SM2: (ES256,), ES256: (SM2, ED25519), ED25519: (ES256, SM2)}
_BEYOND_N = 2**256 - SM2_N  # how many 32-byte values lie at or above n


def _s_at_or_above_n(s: int) -> int:
    """A 32-byte value ≥ n standing for ``s``: ``s + n`` where it fits (the same value mod n, so a
    verifier that reduced s instead of refusing it would accept), else ``n + s mod (2^256 − n)``;
    ``s + n`` fits only for ``s < 2^256 − n``, about one signature in 2^32."""
    return SM2_N + s % _BEYOND_N


class Forger:
    def __init__(
        self,
        issuers: dict[str, Issuer],
        rng: random.Random,
        lifetime: int,
        *,
        future_offset: int = 3600,
    ) -> None:
        self._issuers = issuers
        self._rng = rng
        self._lifetime = lifetime
        self._future_offset = future_offset  # how far ahead a FUTURE code's iat lies
        self._own = {alg: SigningKey.generate(alg) for alg in ALGS}
        self._by_alg = {
            alg: [i for _, i in sorted(issuers.items()) if i.alg == alg] for alg in ALGS
        }
        self.leaked: list[tuple[Issuer, SigningKey]] = []
        self.captured: list[IssuedCode] = []  # codes under keys revoked since

    def kinds(self) -> dict[Kind, float]:
        kinds = {**BASE_KINDS, **(AFTER_COMPROMISE if self.leaked else {})}
        return {k: w for k, w in kinds.items() if all(self._by_alg[a] for a in NEEDS.get(k, ()))}

    def _of(self, alg: str, issuer: Issuer, resident: Resident) -> tuple[Issuer, Resident]:
        """``issuer`` and ``resident`` when the issuer signs with ``alg``, else a random pair."""
        if issuer.alg == alg:
            return issuer, resident
        chosen = self._rng.choice(self._by_alg[alg])
        return chosen, chosen.residents[self._rng.randrange(len(chosen.residents))]

    def capture(self, codes: list[IssuedCode]) -> None:
        self.captured.extend(codes)

    def leak(self, issuer: Issuer, key: SigningKey) -> None:
        self.leaked.append((issuer, key))

    def make(self, kind: Kind, issuer: Issuer, resident: Resident, now: int) -> IssuedCode:
        rng, life = self._rng, self._lifetime
        if kind is Kind.EXPIRED:
            return issuer.issue(resident, now, life, kind=kind, iat=now - life - 900)
        if kind is Kind.FUTURE:
            return issuer.issue(resident, now, life, kind=kind, iat=now + self._future_offset)
        if kind is Kind.OVERLONG:
            return issuer.issue(resident, now, 86_400 + 3600, kind=kind)
        if kind is Kind.FORGED_OTHER_ISSUER:
            other = rng.choice([i for i in self._issuers.values() if i is not issuer])
            return issuer.issue(resident, now, life, kind=kind, key=other.active_key.key)
        if kind is Kind.FORGED_UNKNOWN_KEY:
            return issuer.issue(resident, now, life, kind=kind, key=self._own[issuer.alg])
        if kind is Kind.FORGED_LEAKED_KEY:
            victim, leaked = rng.choice(self.leaked)
            target = victim.residents[rng.randrange(len(victim.residents))]
            return victim.issue(target, now, life, kind=kind, key=leaked)
        if kind is Kind.REPLAYED_REVOKED:
            replayed = rng.choice(self.captured)
            return IssuedCode(replayed.envelope, dataclasses.replace(replayed.truth, kind=kind))
        if kind is Kind.UNKNOWN_ISSUER:
            return self._unknown_issuer(now)
        if kind is Kind.SM2_UNDER_ES256:
            return self._sm2_under_es256(*self._of(ES256, issuer, resident), now)
        if kind in (Kind.SM2_R_ZERO, Kind.SM2_S_OVER_N):
            issuer, resident = self._of(SM2, issuer, resident)
        genuine = issuer.issue(resident, now, life, kind=kind)
        return self._spoil(kind, genuine, issuer)

    def _spoil(self, kind: Kind, genuine: IssuedCode, issuer: Issuer) -> IssuedCode:
        """Change a genuine code after, or instead of, its signing."""
        truth, claims = genuine.truth, genuine.truth.claims
        assert claims is not None  # a genuine code always has claims
        opened = open_envelope(genuine.envelope, CODE)
        if kind is Kind.TAMPERED_PAYLOAD:
            changed = dataclasses.replace(claims, col=0 if claims.col else 2)
            envelope = assemble(opened.protected, changed.payload(), opened.signature)
            return IssuedCode(envelope, dataclasses.replace(truth, signer=None, claims=changed))
        if kind is Kind.TAMPERED_SIGNATURE:
            signature = opened.signature[:-1] + bytes([opened.signature[-1] ^ 0x01])
            envelope = assemble(opened.protected, opened.payload, signature)
            return IssuedCode(envelope, dataclasses.replace(truth, signer=None))
        if kind is Kind.FORGED_SPOOFED_KID:
            own = self._own[issuer.alg]
            envelope = seal(CODE, own, claims.payload(), kid=truth.kid)
            return IssuedCode(envelope, dataclasses.replace(truth, signer=own.kid))
        if kind in (Kind.SM2_R_ZERO, Kind.SM2_S_OVER_N):
            r, s = split_signature(opened.signature)
            spoilt = (
                raw_signature(0, s)
                if kind is Kind.SM2_R_ZERO
                else raw_signature(r, _s_at_or_above_n(s))
            )
            envelope = assemble(opened.protected, opened.payload, spoilt)
            return IssuedCode(envelope, dataclasses.replace(truth, signer=None))
        if kind is Kind.ALG_SWAPPED:
            alg = self._rng.choice(_SWAPS[truth.alg])
            envelope = seal(CODE, issuer.active_key.key, claims.payload(), alg=alg)
            return IssuedCode(envelope, dataclasses.replace(truth, alg=alg))
        if kind is Kind.MALFORMED:
            cut = self._rng.randint(1, 12)
            envelope = genuine.envelope[:-cut] if cut < 12 else genuine.envelope + b"\x00"
            return IssuedCode(envelope, dataclasses.replace(truth, claims=None))
        raise ValueError(f"no recipe for {kind}")

    def _sm2_under_es256(self, target: Issuer, resident: Resident, now: int) -> IssuedCode:
        """A registered SM2 key's signature (a real SM2 province's, as an insider would have it)
        over a code of ES256 issuer ``target``, with ``target``'s kid and alg ES256."""
        sm2 = self._rng.choice(self._by_alg[SM2]).active_key.key
        es256 = target.active_key.key
        genuine = target.issue(resident, now, self._lifetime, kind=Kind.SM2_UNDER_ES256)
        claims = genuine.truth.claims
        assert claims is not None  # a genuine code always has claims
        envelope = seal(CODE, sm2, claims.payload(), alg=ES256, kid=es256.kid)
        return IssuedCode(envelope, dataclasses.replace(genuine.truth, signer=sm2.kid))

    def _unknown_issuer(self, now: int) -> IssuedCode:
        own = self._own[ED25519]
        claims = Claims(
            UNENROLLED_ISS, os.urandom(16), now + self._lifetime, now, 0, 0, os.urandom(16), "王*"
        )
        envelope = seal(CODE, own, claims.payload())
        return IssuedCode(
            envelope, CodeTruth(Kind.UNKNOWN_ISSUER, own.alg, own.kid, own.kid, claims)
        )
