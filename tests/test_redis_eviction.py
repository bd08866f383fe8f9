"""A Redis that evicts keys (issue 10): it can drop statuses while their issuer's mark stays, and
then nothing is ever resent (SPEC §4 "Durability"). The hub refuses to start on an evicting
``maxmemory-policy`` whatever ``redis_durability`` says, and when a running Redis evicts anyway
(the policy can be changed with CONFIG SET) it sets every issuer's mark back, so the issuers
resend and nothing is lost end to end. Real servers with real evictions, nothing mocked.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import msgpack
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from factory import GD, MSGPACK, NOW, World, bearer
from gateway.core.crypto import generate_private_key
from gateway.core.model import Alg
from gateway.store import keys
from gateway.store.connection import cluster_client
from gateway.store.durability import DurabilityRefused, EvictionWatch, check_durability
from gateway.store.embedded import EmbeddedRedis
from gateway.web.app import create_app
from hubtest import HubClient, MakeHub
from load_tests.cluster import LocalCluster

pytestmark = pytest.mark.slow

MARK_FALLS_WITHIN = 5.0  # seconds: the watch looks every second


async def mark(hub: HubClient) -> int:
    r = await hub.get(f"/v1/issuers/{GD}/status/mark")
    assert r.status == 200
    return int((await r.json())["mark"])


async def mark_falls_to_zero(hub: HubClient) -> bool:
    for _ in range(int(MARK_FALLS_WITHIN / 0.05)):
        if await mark(hub) == 0:
            return True
        await asyncio.sleep(0.05)
    return False


async def operator_sets(url: str, setting: str, value: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        await client.config_set(setting, value)
    finally:
        await client.aclose()


async def send_status(
    hub: HubClient, events: list[list[Any]], seq: int
) -> tuple[int, dict[str, Any]]:
    message = hub.world.status(GD, events, seq=seq)
    r = await hub.post(f"/v1/issuers/{GD}/status", data=message, headers=MSGPACK)
    answer: dict[str, Any] = await r.json()
    return r.status, answer


async def colours(hub: HubClient, codes: list[bytes]) -> list[str]:
    body = msgpack.packb(codes)
    r = await hub.post("/v1/verify/batch", data=body, headers={**bearer(), **MSGPACK})
    assert r.status == 200, await r.text()
    return [v["colour"] for v in await r.json()]


async def evict_least_used(
    client: aioredis.Redis, spare: set[bytes], margin: int, trigger: str = "test:trigger"
) -> int:
    """Make Redis evict about ``margin`` bytes of its least frequently used keys, sparing the
    keys in ``spare`` (used far more often), then lift the limit. → keys evicted. ``trigger`` is
    the key written to set it off (on a cluster node, one of its own slots)."""
    evicted = int((await client.info("stats"))["evicted_keys"])
    for _ in range(50 if spare else 0):
        await client.touch(*spare)
    used = int((await client.info("memory"))["used_memory"])
    await client.config_set("maxmemory", used - margin)
    try:
        await client.set(trigger, b"x")  # a write makes Redis evict first
    finally:
        await client.config_set("maxmemory", 0)
        await client.config_set("maxmemory-policy", "noeviction")
    return int((await client.info("stats"))["evicted_keys"]) - evicted


async def least_frequently_used_first(client: aioredis.Redis) -> None:
    await client.config_set("maxmemory-policy", "allkeys-lfu")
    await client.config_set("lfu-log-factor", 0)  # every access counts one
    await client.config_set("lfu-decay-time", 0)
    await client.config_set("maxmemory-samples", 64)


async def test_warn_does_not_start_the_hub_on_a_redis_that_may_evict_keys(
    fresh_redis: EmbeddedRedis,
) -> None:
    await operator_sets(fresh_redis.url, "maxmemory-policy", "allkeys-lru")
    app = create_app(
        World.make().settings(redis_durability="warn"),
        redis_url=fresh_redis.url,
        hub_key=generate_private_key(Alg.ED25519),
    )
    runner = web.AppRunner(app)
    try:
        with pytest.raises(DurabilityRefused, match="maxmemory-policy is allkeys-lru"):
            await runner.setup()  # the app's start-up, as `hcgw serve` runs it
    finally:
        await runner.cleanup()


async def test_warn_still_runs_on_a_redis_whose_only_problem_is_its_fsync(
    make_hub: MakeHub, fresh_redis: EmbeddedRedis
) -> None:
    await operator_sets(fresh_redis.url, "appendfsync", "everysec")
    hub = await make_hub(url=fresh_redis.url, redis_durability="warn")
    assert (await hub.get("/healthz")).status == 200


async def test_statuses_evicted_at_run_time_fall_the_mark_back_and_a_resend_restores_them(
    make_hub: MakeHub, fresh_redis: EmbeddedRedis
) -> None:
    hub = await make_hub(url=fresh_redis.url)
    r = await hub.post(f"/v1/issuers/{GD}/keys", data=hub.world.key_add(GD), headers=MSGPACK)
    assert r.status == 201
    client = aioredis.Redis.from_url(fresh_redis.url)
    try:
        await least_frequently_used_first(client)  # an operator's CONFIG SET at run time
        subs = [os.urandom(16) for _ in range(50)]
        red = [[sub, 2, 1, NOW] for sub in subs]
        assert await send_status(hub, red, seq=1) == (200, {"applied": 50, "mark": 1})
        codes = [hub.world.code(GD, sub=sub, col=0, sv=1) for sub in subs]
        assert await colours(hub, codes) == ["red"] * 50
        statuses = {keys.status(GD, sub) for sub in subs}
        spare = {k async for k in client.scan_iter()} - statuses
        assert await evict_least_used(client, spare, margin=3000) > 0
        lost = [sub for sub in subs if await client.get(keys.status(GD, sub)) is None]
        assert lost, "the eviction should have taken statuses"
        assert await client.exists(*(k for k in spare if b"{reg}" in k)) > 0

        assert await mark_falls_to_zero(hub)  # so the issuer resends from seq 1
        assert await send_status(hub, red, seq=1) == (200, {"applied": len(lost), "mark": 1})
        assert await colours(hub, codes) == ["red"] * 50
    finally:
        await client.aclose()


async def test_evictions_from_before_the_hub_started_fall_the_mark_back_at_start(
    make_hub: MakeHub, fresh_redis: EmbeddedRedis
) -> None:
    client = aioredis.Redis.from_url(fresh_redis.url)
    try:
        await client.set(keys.mark(GD), b"7")  # left by an earlier hub, its statuses evicted
        await least_frequently_used_first(client)
        for i in range(20):
            await client.set(f"test:filler:{i}".encode(), os.urandom(200))
        assert await evict_least_used(client, {keys.mark(GD).encode()}, margin=1500) > 0
        assert await client.get(keys.mark(GD)) == b"7"
        hub = await make_hub(url=fresh_redis.url)
        assert await mark_falls_to_zero(hub)
    finally:
        await client.aclose()


@pytest.mark.parametrize("hub_backend", ["cluster"], indirect=True)
async def test_an_eviction_on_any_node_of_a_cluster_falls_every_mark_back(
    make_hub: MakeHub, redis_cluster: LocalCluster
) -> None:
    hub = await make_hub()
    assert await send_status(hub, [], seq=1) == (200, {"applied": 0, "mark": 1})
    mark_node = redis_cluster.master_of(keys.mark(GD))
    node = next(n for n in redis_cluster.nodes[:3] if n is not mark_node)
    fillers = [
        k for k in (f"test:filler:{i}" for i in range(300)) if redis_cluster.master_of(k) is node
    ]
    client = aioredis.Redis.from_url(node.url)
    try:
        await least_frequently_used_first(client)
        for name in fillers[:20]:
            await client.set(name, os.urandom(200))
        assert await evict_least_used(client, set(), margin=1500, trigger=fillers[20]) > 0
        assert await mark_falls_to_zero(hub)
    finally:
        await client.config_resetstat()  # the session's cluster: later hubs must see no evictions
        await client.aclose()


async def test_a_redis_that_refuses_config_still_shows_an_evicting_policy(
    fresh_redis: EmbeddedRedis,
) -> None:
    await operator_sets(fresh_redis.url, "maxmemory-policy", "allkeys-lru")
    admin = aioredis.Redis.from_url(fresh_redis.url)
    try:
        await admin.execute_command(  # type: ignore[no-untyped-call]  # redis-py: no hints
            "ACL", "SETUSER", "gw", "on", ">pw", "~*", "+@all", "-config"
        )
    finally:
        await admin.aclose()
    client = aioredis.Redis.from_url(f"unix://gw:pw@{fresh_redis.unix_socket_path}")
    try:
        report = await check_durability(client)
    finally:
        await client.aclose()
    assert report.config_refused and report.evicting
    assert any(p.startswith("maxmemory-policy is allkeys-lru") for p in report.problems)


@pytest.mark.parametrize("delay", [0, 0.001, 0.01])
async def test_a_watch_cancelled_in_the_middle_of_a_look_on_a_cluster_ends(
    redis_cluster: LocalCluster, delay: float
) -> None:
    client = await cluster_client(redis_cluster.url)
    try:
        watching = asyncio.get_running_loop().create_task(EvictionWatch(client, [GD]).run())
        await asyncio.sleep(delay)
        watching.cancel()
        done, _ = await asyncio.wait([watching], timeout=2)
        assert done == {watching} and watching.cancelled()
    finally:
        await client.aclose()


async def test_readyz_is_503_while_redis_may_evict_keys(
    make_hub: MakeHub, fresh_redis: EmbeddedRedis
) -> None:
    hub = await make_hub(url=fresh_redis.url)
    assert (await hub.get("/readyz")).status == 200
    eviction = hub.hub.eviction
    assert eviction is not None  # the hub watches Redis once it has started
    await operator_sets(fresh_redis.url, "maxmemory-policy", "allkeys-lru")
    try:
        await eviction.check()
        r = await hub.get("/readyz")
        reasons = (await r.json())["reasons"]
        assert r.status == 503 and any("allkeys-lru" in reason for reason in reasons)
    finally:
        await operator_sets(fresh_redis.url, "maxmemory-policy", "noeviction")
    await eviction.check()
    assert (await hub.get("/readyz")).status == 200
