"""The oracle against the gateway's pure core: for every kind of code the simulator makes, the
verdict it predicts is, field for field, the one ``gateway.core.verify`` gives over the same
keys and statuses (SPEC §3.1's order, §3.2's filled fields). The SM2 kinds get their own checks:
what each one's bytes hold, and that the hub's core answers them as the oracle says."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gateway.core.crypto import load_public_key
from gateway.core.model import MALFORMED, Colour, IssuerCode, KeyId, Status
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.core.verify import verify
from gateway.core.wire import Malformed, decode_code
from gateway.web.handlers import render_verdict
from provinces_sim import crypto
from provinces_sim.census import BY_ISS, ED25519, ES256, SM2
from provinces_sim.codes import IssuedCode, Kind
from provinces_sim.crypto import SM2_N
from provinces_sim.forgery import AFTER_COMPROMISE, BASE_KINDS, Forger
from provinces_sim.issuer import KeyState
from provinces_sim.oracle import FixedStatuses, HubModel, KeyFact, expect
from provinces_sim.world import World

NOW = 1_600_000_000


def gateway_verdict(code: IssuedCode, trust: TrustSnapshot, hub: HubModel) -> dict[str, object]:
    try:
        decoded = decode_code(code.envelope)
    except Malformed:
        return render_verdict(MALFORMED)
    held = hub.status_of(decoded.iss, decoded.sub)
    status = Status(Colour(held[0]), held[1]) if held is not None else None
    return render_verdict(verify(decoded, trust, NOW, status))


class Scene:
    """A world whose keys the hub holds: every issuer an active key, the ``victim`` also a
    retired one and one that leaked and was revoked; statuses older, equal and newer."""

    def __init__(self, victim_iss: str, seed: int = 5) -> None:
        self.world, self.hub, self.trust, self.forger = _world_and_hub(victim_iss, seed)

    def check(self, code: IssuedCode) -> dict[str, object]:
        predicted = expect(code, self.hub, NOW)
        assert predicted == gateway_verdict(code, self.trust, self.hub), code.truth.kind
        return predicted


def _world_and_hub(victim_iss: str, seed: int) -> tuple[World, HubModel, TrustSnapshot, Forger]:
    world = World.create(seed=seed, scale=2e-7, now=NOW - 86_400)
    world.populate()
    hub = HubModel(frozenset(world.issuers))
    forger = Forger(world.issuers, random.Random(seed), 300)
    victim = world.issuers[victim_iss]
    victim.new_key(NOW)  # a rotation: the first key retires, the new one signs
    for issuer in world.issuers.values():
        for k in issuer.code_keys:
            k.state = KeyState.RETIRED
            hub.keys[k.key.kid] = KeyFact(issuer.iss, k.key.alg, k.nbf, k.naf)
        issuer.code_keys[-1].state = KeyState.ACTIVE
    leaked = victim.active_key
    forger.capture([victim.issue(r, NOW - 60, 300) for r in victim.residents])
    forger.leak(victim, leaked.key)
    victim.new_key(NOW).state = KeyState.ACTIVE
    leaked.state = KeyState.REVOKED
    for k in victim.code_keys[-1:]:
        hub.keys[k.key.kid] = KeyFact(victim.iss, k.key.alg, k.nbf, k.naf)
    hub.keys[leaked.key.kid] = KeyFact(victim.iss, leaked.key.alg, leaked.nbf, leaked.naf, True)
    for issuer in world.issuers.values():  # statuses older, equal and newer than the codes
        statuses = {}
        for n, r in enumerate(issuer.residents):
            r.colour, r.sv = n % 3, 5
            if n % 4:
                statuses[r.sub] = ((n + 1) % 3, 4 + n % 3)
        hub.statuses[issuer.iss] = FixedStatuses(statuses)
    trust = TrustSnapshot.build(
        1,
        (IssuerCode(i) for i in world.issuers),
        (
            KeyRecord(
                IssuerCode(issuer.iss),
                load_public_key(k.key.alg, k.key.spki),
                k.nbf,
                k.naf,
                k.state is KeyState.REVOKED,
            )
            for issuer in world.issuers.values()
            for k in issuer.code_keys
        ),
    )
    assert set(trust.keys) == {KeyId(kid) for kid in hub.keys}
    return world, hub, trust, forger


EVERY_OUTCOME = {
    "green", "yellow", "red", "MALFORMED", "UNKNOWN_ISSUER", "ISSUER_KEY_MISMATCH", "UNKNOWN_KID",
    "ALG_MISMATCH", "KEY_REVOKED", "KEY_NOT_VALID", "BAD_SIGNATURE", "NOT_YET_VALID", "EXPIRED",
}  # fmt: skip
# What each algorithm's issuers must see: every outcome but those of no enrolled issuer, and
# KEY_REVOKED, which only the victim's algorithm sees.
PER_ALGORITHM = EVERY_OUTCOME - {"MALFORMED", "UNKNOWN_ISSUER", "KEY_REVOKED"}


@pytest.mark.parametrize("victim", ["440000", "110000", "410000"], ids=[ED25519, ES256, SM2])
def test_the_oracle_predicts_the_gateways_verdict_for_every_kind_of_code(victim: str) -> None:
    """The victim's leaked key (and the codes replayed or forged with it) is of each algorithm."""
    scene = Scene(victim)
    rng = random.Random(5)
    seen: Counter[str] = Counter()
    by_alg: dict[str, set[str]] = {ED25519: set(), ES256: set(), SM2: set()}
    for kind in [Kind.CURRENT, *BASE_KINDS, *AFTER_COMPROMISE]:
        for _ in range(100 if kind is Kind.CURRENT else 25):
            issuer = scene.world.issuers[rng.choice(sorted(scene.world.issuers))]
            resident = rng.choice(issuer.residents)
            if kind is Kind.CURRENT:
                code = issuer.issue(resident, NOW, 300, sv=rng.choice((4, 5, 6)))
            else:
                code = scene.forger.make(kind, issuer, resident, NOW)
            predicted = scene.check(code)
            outcome = str(predicted["colour"] or predicted["reason"])
            seen[outcome] += 1
            if code.truth.claims is not None and code.truth.claims.iss in BY_ISS:
                by_alg[BY_ISS[code.truth.claims.iss].alg].add(outcome)
    assert set(seen) == EVERY_OUTCOME
    for alg, outcomes in by_alg.items():
        assert outcomes >= PER_ALGORITHM, alg
    assert "KEY_REVOKED" in by_alg[BY_ISS[victim].alg]


def _sm2_code(scene: Scene, kind: Kind) -> IssuedCode:
    henan = scene.world.issuers["410000"]
    return scene.forger.make(kind, henan, henan.residents[0], NOW)


def _r_s(code: IssuedCode) -> tuple[int, int]:
    signature = decode_code(code.envelope).envelope.signature
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


def test_an_sm2_signature_with_r_zero_is_a_bad_signature() -> None:
    scene = Scene("440000")
    code = _sm2_code(scene, Kind.SM2_R_ZERO)
    r, s = _r_s(code)
    assert r == 0 and 0 < s < SM2_N and code.truth.alg == SM2
    assert scene.check(code)["reason"] == "BAD_SIGNATURE"


def test_an_sm2_signature_with_s_at_or_above_n_is_a_bad_signature() -> None:
    scene = Scene("440000")
    for _ in range(5):
        code = _sm2_code(scene, Kind.SM2_S_OVER_N)
        r, s = _r_s(code)
        assert 0 < r < SM2_N and SM2_N <= s < 2**256 and code.truth.alg == SM2
        assert scene.check(code)["reason"] == "BAD_SIGNATURE"


def test_the_sm2_kinds_are_made_for_an_sm2_issuer_whatever_issuer_was_drawn() -> None:
    scene = Scene("440000")
    guangdong = scene.world.issuers["440000"]
    for kind in (Kind.SM2_R_ZERO, Kind.SM2_S_OVER_N):
        code = scene.forger.make(kind, guangdong, guangdong.residents[0], NOW)
        assert code.truth.claims is not None and BY_ISS[code.truth.claims.iss].alg == SM2
    code = scene.forger.make(Kind.SM2_UNDER_ES256, guangdong, guangdong.residents[0], NOW)
    assert code.truth.claims is not None and BY_ISS[code.truth.claims.iss].alg == ES256


def test_an_sm2_signature_under_an_es256_issuers_key_is_a_bad_signature() -> None:
    scene = Scene("440000")
    beijing = scene.world.issuers["110000"]
    code = scene.forger.make(Kind.SM2_UNDER_ES256, beijing, beijing.residents[0], NOW)
    opened = decode_code(code.envelope).envelope
    assert (opened.alg.value, opened.kid) == (ES256, beijing.active_key.key.kid)
    sm2_keys = [
        k.key for i in scene.world.issuers.values() if i.alg == SM2 for k in i.code_keys
    ]  # the signature is a registered SM2 key's, over exactly these signed bytes
    assert any(crypto.verify(SM2, k.spki, opened.signed, opened.signature) for k in sm2_keys)
    assert not crypto.verify(ES256, beijing.active_key.key.spki, opened.signed, opened.signature)
    verdict = scene.check(code)
    assert (verdict["reason"], verdict["iss"]) == ("BAD_SIGNATURE", "110000")


def test_an_sm2_code_whose_header_says_es256_is_an_alg_mismatch() -> None:
    scene = Scene("440000")
    code = _sm2_code(scene, Kind.ALG_SWAPPED)
    opened = decode_code(code.envelope).envelope
    assert (
        opened.alg.value == ES256 and opened.kid == scene.world.issuers["410000"].active_key.key.kid
    )
    assert scene.check(code)["reason"] == "ALG_MISMATCH"


def test_a_code_forged_with_another_provinces_key_is_an_issuer_key_mismatch() -> None:
    world = World.create(seed=6, scale=1e-7, now=NOW - 86_400)
    world.populate()
    hub = HubModel(frozenset(world.issuers))
    for issuer in world.issuers.values():
        k = issuer.code_keys[0]
        k.state = KeyState.ACTIVE
        hub.keys[k.key.kid] = KeyFact(issuer.iss, k.key.alg, k.nbf, k.naf, revoked=True)
    guangdong, beijing = world.issuers["440000"], world.issuers["110000"]
    forged = guangdong.issue(guangdong.residents[0], NOW, 300, key=beijing.active_key.key)
    # Beijing's key is registered (and even revoked): step 3 decides before step 5
    assert expect(forged, hub, NOW)["reason"] == "ISSUER_KEY_MISMATCH"
