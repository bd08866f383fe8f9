"""The whole scenario against a real gateway process and a real Redis, seeded: outbreak,
contact tracing, recovery, key rotations, a key compromise, and a kill -9 of the gateway during
which Redis also loses some issuers' statuses and marks. The issuers resend from their marks,
and every verdict, including a final sweep of every resident, agrees with the oracle."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from gateway.store import keys
from gateway.store.embedded import EmbeddedRedis
from provinces_sim.epidemic import Plan
from provinces_sim.hub import HubApi
from provinces_sim.hubproc import HubProcess
from provinces_sim.issuer import KeyState
from provinces_sim.opconfig import hub_config
from provinces_sim.scenario import Scenario, Settings
from provinces_sim.world import RAIL_CLIENT, World
from sim_support import files_holding, id_numbers

LOSE = ("420000", "440000", "370000", "410000")
SETTINGS = Settings(ticks=30, tick_seconds=0, trips_per_tick=150, downtime=2, seed=7)


class CrashAndForget:
    """kill -9 of the gateway; while it is down, Redis loses some issuers' statuses and marks,
    as a Redis restored from an older backup would (the keys and the nonces stay)."""

    def __init__(self, gateway: HubProcess, redis_url: str) -> None:
        self.gateway = gateway
        self.redis_url = redis_url
        self.marks_lost: dict[str, int] = {}

    async def kill(self) -> str:
        killed = await self.gateway.kill()
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            for iss in LOSE:
                self.marks_lost[iss] = int(await client.get(keys.mark(iss)) or 0)
                pattern = keys.status_prefix(iss) + b"*"
                statuses = [k async for k in client.scan_iter(match=pattern)]
                await client.delete(keys.mark(iss), *statuses)
        finally:
            await client.aclose()
        return f"{killed}; Redis lost the statuses and marks of {', '.join(LOSE)}"

    async def start(self) -> str:
        return await self.gateway.start()


@pytest.mark.slow
async def test_a_seeded_scenario_through_a_crash_and_lost_statuses_has_zero_mismatches(
    fresh_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    world = World.create(seed=7, scale=1e-6, now=int(time.time()))
    world.populate()
    world.save(tmp_path / "keystore")
    (tmp_path / "hcgw.toml").write_text(hub_config(world, {}))
    gateway = HubProcess(tmp_path / "hcgw.toml", tmp_path, redis_url=fresh_redis.url)
    control = CrashAndForget(gateway, fresh_redis.url)
    await gateway.start()
    try:
        async with HubApi(gateway.url) as hub:
            scenario = Scenario(world, hub, SETTINGS, control=control)
            outcome = await scenario.run()
            rotated = [world.issuers[iss] for iss in scenario.plan.rotations.values()]
            retired = {
                k.key.kid for i in rotated for k in i.code_keys if k.state is KeyState.RETIRED
            }
            overlap = [
                r.phone
                for i in rotated
                for r in i.residents
                if r.phone is not None and r.phone.truth.kid in retired
            ]
            still = await hub.verify_batch(
                world.clients[RAIL_CLIENT], [c.envelope for c in overlap]
            )
    finally:
        await gateway.stop()

    tally = outcome.tally
    assert tally.mismatches == 0, tally.mismatch_samples[:3]
    assert tally.unanswered == 0 and not outcome.failures
    assert outcome.passed and outcome.marks_ok and outcome.lost == 0
    assert outcome.sweep_scans == outcome.residents == len(world.residents())
    # the crash: the hub lost acknowledged statuses, the issuers noticed and resent them
    assert control.marks_lost["420000"] > 0  # the outbreak province had pushed before it
    for iss, lost in control.marks_lost.items():
        if lost:
            assert scenario.channels[iss].stats.fallbacks >= 1
            assert outcome.marks[iss][0] == scenario.channels[iss].last_seq >= lost
    assert outcome.channels.resends >= sum(control.marks_lost.values())
    assert any("hub back" in line for line in outcome.story)
    # outbreak, tracing and recovery: colours went both ways, and were scanned
    outcomes = tally.outcomes()
    assert outcomes["red"] > 0 and outcomes["yellow"] > 0
    hubei = scenario.channels["420000"].log
    assert any(e[1] == 0 for m in hubei for e in m.events)  # recoveries were pushed too
    # key life: four rotations and a compromise; rotated-out keys' codes still verify
    assert (outcome.keys_added, outcome.keys_revoked) == (32 + 4 + 1, 1)
    assert overlap and all(v["valid"] for v in still)
    assert set(tally.kinds["replayed-revoked"]) == {"KEY_REVOKED"}
    assert set(tally.kinds["forged-other-issuer"]) == {"ISSUER_KEY_MISMATCH"}
    assert set(tally.kinds["expired"]) == {"EXPIRED"}
    assert tally.requests["single"] > 0 and tally.requests["batch"] > 0
    # and no ID number anywhere: keystore, config, the gateway's log
    assert files_holding(tmp_path, id_numbers(world)) == {}


def test_the_same_seed_plans_the_same_story() -> None:
    issuers = sorted(World.create(seed=1, scale=1e-7, now=0).issuers)

    def plan(seed: int) -> Plan:
        return Plan.make(
            120, random.Random(f"{seed}:plan"), issuers, outbreak_iss="420000",
            compromise_iss=None, rotations=4, restart=True, downtime=3,
        )  # fmt: skip

    assert plan(2020) == plan(2020)
    assert plan(2020) != plan(2021)
    p = plan(2020)
    assert p.outbreak_at < min(p.rotations) <= max(p.rotations) < p.compromise_at
    assert p.compromise_at < (p.restart_at or 0) < p.recovery_at < p.ticks
    assert p.compromise_iss != p.outbreak_iss and p.compromise_iss not in p.rotations.values()
