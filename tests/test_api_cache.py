"""The Redis layer of the signature-outcome cache (docs/caching.md), on one Redis and on a cluster.

Outcomes are written with the pipeline after the one that read them, as one script per slot
(16 bucket tags, ``gateway.store.keys``); each lives exactly as long as its code.
"""

from __future__ import annotations

import asyncio
import hashlib

import msgpack
from redis.crc import key_slot

from factory import BJ, GD, HB, MSGPACK, NOW, bearer
from gateway.store import keys
from gateway.store.lookup import CACHE_PUT_MAX_KEYS, LookupCoalescer
from gateway.store.scripts import CACHE_PUT


async def hub_without_local_cache(make_hub):
    hub = await make_hub(local_cache_size=0)  # every lookup goes to Redis
    for iss in (GD, BJ, HB):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=hub.world.key_add(iss), headers=MSGPACK)
        assert r.status == 201, await r.text()
    return hub


async def verify_batch(hub, codes: list[bytes]) -> list[dict]:
    body = msgpack.packb(codes)
    r = await hub.post("/v1/verify/batch", data=body, headers={**bearer(), **MSGPACK})
    assert r.status == 200, await r.text()
    return await r.json()


async def cached(hub, codes: list[bytes]) -> list[bytes | None]:
    """The cached outcomes of ``codes``, once the write pipeline has gone out (≤ 2 s)."""
    names = [keys.signature_outcome(hashlib.sha256(c).digest()) for c in codes]
    for _ in range(200):
        values = [await hub.hub.redis.get(n) for n in names]
        if all(v is not None for v in values):
            return values
        await asyncio.sleep(0.01)
    return values


async def evalsha_calls(hub) -> int:
    stats = await hub.hub.redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def cache_counts(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith('hcgw_cache_total{layer="redis"'):
            name, value = line.rsplit(" ", 1)
            out[name.split('outcome="')[1].rstrip('"}')] = float(value)
    return out


async def test_a_batch_leaves_each_outcome_in_redis_for_exactly_its_codes_life(make_hub) -> None:
    hub = await hub_without_local_cache(make_hub)
    lives = [60 + 7 * i for i in range(48)]
    codes = [hub.world.code((GD, BJ, HB)[i % 3], exp=NOW + life) for i, life in enumerate(lives)]
    protected, payload, signature = msgpack.unpackb(hub.world.code(GD, exp=NOW + 600))
    forged = msgpack.packb([protected, payload, bytes([signature[0] ^ 1]) + signature[1:]])
    results = await verify_batch(hub, [*codes, forged])
    assert [r["valid"] for r in results] == [True] * len(codes) + [False]
    assert results[-1]["reason"] == "BAD_SIGNATURE"
    assert await cached(hub, [*codes, forged]) == [b"\x01"] * len(codes) + [b"\x00"]
    for code, life in zip(codes, lives, strict=True):
        ttl = await hub.hub.redis.ttl(keys.signature_outcome(hashlib.sha256(code).digest()))
        assert life - 2 <= ttl <= life  # the hub's clock is fixed at NOW; Redis counts down
    slots = {key_slot(keys.signature_outcome(hashlib.sha256(c).digest())) for c in codes}
    assert 8 < len(slots) <= 16  # 48 outcomes meet in at most 16 slots, yet spread


async def test_a_second_look_takes_the_outcome_from_redis(make_hub) -> None:
    hub = await hub_without_local_cache(make_hub)
    codes = [hub.world.code((GD, BJ)[i % 2]) for i in range(30)]
    await verify_batch(hub, codes)
    await cached(hub, codes)
    before = cache_counts(await (await hub.get("/metrics")).text())
    again = await verify_batch(hub, codes)
    after = cache_counts(await (await hub.get("/metrics")).text())
    assert all(r["valid"] for r in again)
    assert after["hit"] - before.get("hit", 0) == 30
    assert after["miss"] == before["miss"]


async def test_scripts_forgotten_by_redis_are_loaded_again(make_hub) -> None:
    hub = await hub_without_local_cache(make_hub)
    await verify_batch(hub, [hub.world.code(GD)])
    await hub.hub.redis.script_flush()  # as after a restart or on a newly promoted replica
    codes = [hub.world.code(HB) for _ in range(5)]
    assert all(r["valid"] for r in await verify_batch(hub, codes))
    assert await cached(hub, codes) == [b"\x01"] * 5


async def test_a_long_queue_of_writes_goes_out_whole_in_scripts_of_bounded_size(make_hub) -> None:
    hub = await make_hub()
    cluster = hub.hub.settings.redis_cluster
    lookups = LookupCoalescer(hub.hub.redis, deadline=2.0, cluster=cluster)
    await hub.hub.redis.script_load(CACHE_PUT)  # so that no NOSCRIPT retry adds to the count
    scripts_before = 0 if cluster else await evalsha_calls(hub)
    n = 2 * CACHE_PUT_MAX_KEYS + 100
    names = [keys.signature_outcome(hashlib.sha256(b"%d" % i).digest()) for i in range(n)]
    for i, name in enumerate(names):
        lookups.remember(name, b"\x01", 100 + i % 50)
    fetched = await lookups.fetch(names[:3])  # one pipeline: the writes go before the reads
    try:
        assert fetched.values == [b"\x01"] * 3
        values = [await hub.hub.redis.get(name) for name in names]
        assert values == [b"\x01"] * n
        assert 100 - 2 <= await hub.hub.redis.ttl(names[-1]) <= 100 + (n - 1) % 50
        if not cluster:  # one Redis: 1,124 writes in 3 scripts (a cluster splits them by slot)
            assert await evalsha_calls(hub) - scripts_before == 3
    finally:
        await lookups.close()
