"""The simulator's terminals verify offline while the hub is down (SPEC §6), and the oracle
checks those verdicts: the same steps of §3.1 over the keys of the list they hold, no statuses.

The run is the demo's shape at a small scale: a real ``hcgw serve`` with a kill -9 in the
middle, its downtime long enough for a few hundred offline scans."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from gateway.store import keys
from gateway.store.embedded import EmbeddedRedis
from provinces_sim.codes import IssuedCode
from provinces_sim.hub import HubApi
from provinces_sim.hubproc import HubProcess
from provinces_sim.issuer import KeyState
from provinces_sim.opconfig import hub_config
from provinces_sim.oracle import HubModel, KeyFact, differences, expect, expect_offline
from provinces_sim.scenario import Outcome, Scenario, Settings
from provinces_sim.wire import b64url
from provinces_sim.world import World

SETTINGS = Settings(ticks=24, tick_seconds=0, trips_per_tick=300, downtime=5, seed=11)


class Rekeyed:
    """kill -9, and the hub's trust-list key file is lost: the next start makes a new key.
    The list signed with the old key is dropped from Redis too, so the next one is signed with
    the new key (else the hub serves the stored copy until the registry changes)."""

    def __init__(self, gateway: HubProcess, key_file: Path, redis_url: str) -> None:
        self.gateway, self.key_file, self.redis_url = gateway, key_file, redis_url

    async def kill(self) -> str:
        killed = await self.gateway.kill()
        self.key_file.unlink()
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            await client.delete(keys.TRUST_LIST)
        finally:
            await client.aclose()
        return f"{killed}; its trust-list key is gone"

    async def start(self) -> str:
        return await self.gateway.start()


async def _run(tmp_path: Path, redis_url: str, rekey: bool = False) -> tuple[Scenario, Outcome]:
    world = World.create(seed=11, scale=1e-6, now=int(time.time()))
    world.populate()
    (tmp_path / "hcgw.toml").write_text(hub_config(world, {}))
    gateway = HubProcess(tmp_path / "hcgw.toml", tmp_path, redis_url=redis_url)
    key_file = tmp_path / "var" / "hub-trust-key.pem"
    control = Rekeyed(gateway, key_file, redis_url) if rekey else gateway
    await gateway.start()
    try:
        async with HubApi(gateway.url) as hub:
            scenario = Scenario(world, hub, SETTINGS, control=control)
            outcome = await scenario.run()
    finally:
        await gateway.stop()
    return scenario, outcome


@pytest.mark.slow
async def test_terminals_verify_offline_while_the_hub_is_down_and_the_oracle_agrees(
    fresh_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    scenario, outcome = await _run(tmp_path, fresh_redis.url)
    tally = outcome.tally
    assert tally.mismatches == 0, tally.mismatch_samples[:3]
    assert outcome.passed and tally.unanswered == 0
    offline = scenario.terminals
    assert offline is not None
    assert tally.requests["offline"] == sum(offline.outcomes.values()) > 200
    # the compromise came before the restart: replays under the revoked key were refused
    # offline too, and forgeries, from the held list alone
    assert offline.outcomes["KEY_REVOKED"] > 0 and offline.outcomes["green"] > 0
    assert {"UNKNOWN_KID", "BAD_SIGNATURE", "EXPIRED"} <= set(offline.outcomes)
    assert any("terminals verified" in line and "offline" in line for line in outcome.story)
    # the story spells kids as the hub does, base64url (issue 13: it said hex)
    victim = scenario.world.issuers[scenario.plan.compromise_iss]
    (revoked,) = [k.key.kid for k in victim.code_keys if k.state is KeyState.REVOKED]
    assert any(f"kid {b64url(revoked)} revoked" in line for line in outcome.story)


@pytest.mark.slow
async def test_terminals_refuse_a_list_signed_by_another_key_after_the_restart(
    fresh_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    _, outcome = await _run(tmp_path, fresh_redis.url, rekey=True)
    assert not outcome.passed
    assert any(
        "refused the hub's trust list" in f and "not by the pinned hub key" in f
        for f in outcome.failures
    ), outcome.failures


def test_the_oracle_tells_an_offline_verdict_from_an_online_one(
    sim_code: tuple[IssuedCode, HubModel],
) -> None:
    code, model = sim_code
    offline = expect_offline(code, model.offline_view(), 1_000)
    online = expect(code, model, 1_000)
    assert online["valid"] and online["colour"] == "red" and online["status_sv"] == 9
    assert (offline["colour"], offline["status_sv"]) == ("green", None)
    # a terminal that answered with the status, or did not say it was offline, mismatches
    assert differences(offline, {**online, "offline": True, "status_checked": False}) == [
        "colour: expected 'green', got 'red'",
        "status_sv: expected None, got 9",
    ]
    assert differences(offline, {k: v for k, v in offline.items() if k != "offline"}) == [
        "offline: expected True, got None"
    ]
    assert differences(offline, offline) == []


@pytest.fixture
def sim_code() -> tuple[IssuedCode, HubModel]:
    """A green code whose subject the hub holds red (sv 9), under a registered key."""
    world = World.create(seed=3, scale=1e-7, now=0)
    world.populate()
    issuer = world.issuers["440000"]
    key = issuer.code_keys[0]
    key.state = KeyState.ACTIVE
    resident = issuer.residents[0]
    code = issuer.issue(resident, 900, 300, col=0, sv=1)
    model = HubModel(
        frozenset(world.issuers),
        {key.key.kid: KeyFact(issuer.iss, key.key.alg, key.nbf, key.naf)},
    )

    class Red:
        def status_of(self, sub: bytes) -> tuple[int, int] | None:
            return (2, 9) if sub == resident.sub else None

    model.statuses[issuer.iss] = Red()
    return code, model
