"""The oracle against the gateway's pure core: for every kind of code the simulator makes, the
verdict it predicts is, field for field, the one ``gateway.core.verify`` gives over the same
keys and statuses (SPEC §3.1's order, §3.2's filled fields)."""

from __future__ import annotations

import random
from collections import Counter

from gateway.core.crypto import load_public_key
from gateway.core.model import MALFORMED, Colour, IssuerCode, KeyId, Status
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.core.verify import verify
from gateway.core.wire import Malformed, decode_code
from gateway.web.handlers import render_verdict
from provinces_sim.codes import IssuedCode, Kind
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


def test_the_oracle_predicts_the_gateways_verdict_for_every_kind_of_code() -> None:
    world = World.create(seed=5, scale=2e-7, now=NOW - 86_400)
    world.populate()
    hub = HubModel(frozenset(world.issuers))
    rng = random.Random(5)
    forger = Forger(world.issuers, rng, 300)
    victim = world.issuers["440000"]
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
    seen: Counter[str] = Counter()
    for kind in [Kind.CURRENT, *BASE_KINDS, *AFTER_COMPROMISE]:
        for _ in range(25):
            issuer = world.issuers[rng.choice(sorted(world.issuers))]
            resident = rng.choice(issuer.residents)
            if kind is Kind.CURRENT:
                code = issuer.issue(resident, NOW, 300, sv=rng.choice((4, 5, 6)))
            else:
                code = forger.make(kind, issuer, resident, NOW)
            predicted = expect(code, hub, NOW)
            assert predicted == gateway_verdict(code, trust, hub), kind
            seen[str(predicted["colour"] or predicted["reason"])] += 1
    assert set(seen) == {
        "green", "yellow", "red", "MALFORMED", "UNKNOWN_ISSUER", "ISSUER_KEY_MISMATCH",
        "UNKNOWN_KID", "ALG_MISMATCH", "KEY_REVOKED", "KEY_NOT_VALID", "BAD_SIGNATURE",
        "NOT_YET_VALID", "EXPIRED",
    }  # fmt: skip


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
