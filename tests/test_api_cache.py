"""The Redis layer of the signature-outcome cache (docs/caching.md), on one Redis and on a cluster.

Outcomes are written with the pipeline after the one that read them, as one script per slot
(16 bucket tags, ``gateway.store.keys``); each lives exactly as long as its code. Only valid
signatures go to Redis: what anyone can forge stays in the worker's bounded local layer.
"""

from __future__ import annotations

import hashlib
import os

import msgpack
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from factory import BJ, GD, HB, MSGPACK, NOW, pack
from gateway.store import keys
from gateway.store.lookup import CACHE_PUT_MAX_KEYS, LookupCoalescer
from gateway.store.scripts import CACHE_PUT
from hubtest import HubClient, MakeHub, cache_counts, verify_batch


async def hub_without_local_cache(make_hub: MakeHub) -> HubClient:
    hub = await make_hub(local_cache_size=0)  # every lookup goes to Redis
    for iss in (GD, BJ, HB):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=hub.world.key_add(iss), headers=MSGPACK)
        assert r.status == 201, await r.text()
    return hub


async def cached(hub: HubClient, codes: list[bytes]) -> list[bytes | str | None]:
    """The cached outcomes of ``codes``, once the write pipeline has gone out."""
    await hub.hub.lookups.settled()
    names = [keys.signature_outcome(hashlib.sha256(c).digest()) for c in codes]
    return [await hub.hub.redis.get(n) for n in names]


def forge(code: bytes) -> bytes:
    """The code with a random signature, as anyone can make without a key."""
    protected, payload, _ = msgpack.unpackb(code)
    return pack([protected, payload, os.urandom(64)])


async def outcome_lives(hub: HubClient) -> dict[bytes, int]:
    """Every cached signature outcome in Redis (every node of a cluster) → its TTL."""
    names = {n async for n in hub.hub.redis.scan_iter(match=keys.SIGNATURE_OUTCOME_MATCH)}
    return {n: await hub.hub.redis.ttl(n) for n in names}


async def evalsha_calls(hub: HubClient) -> int:
    stats = await hub.hub.redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_a_batch_leaves_each_outcome_in_redis_for_exactly_its_codes_life(
    make_hub: MakeHub,
) -> None:
    hub = await hub_without_local_cache(make_hub)
    lives = [60 + 7 * i for i in range(48)]
    codes = [hub.world.code((GD, BJ, HB)[i % 3], exp=NOW + life) for i, life in enumerate(lives)]
    protected, payload, signature = msgpack.unpackb(hub.world.code(GD, exp=NOW + 600))
    forged = msgpack.packb([protected, payload, bytes([signature[0] ^ 1]) + signature[1:]])
    results = await verify_batch(hub, [*codes, forged])
    assert [r["valid"] for r in results] == [True] * len(codes) + [False]
    assert results[-1]["reason"] == "BAD_SIGNATURE"
    assert await cached(hub, codes) == [b"\x01"] * len(codes)
    assert await hub.hub.redis.get(keys.signature_outcome(hashlib.sha256(forged).digest())) is None
    for code, life in zip(codes, lives, strict=True):
        ttl = await hub.hub.redis.ttl(keys.signature_outcome(hashlib.sha256(code).digest()))
        assert life - 2 <= ttl <= life  # the hub's clock is fixed at NOW; Redis counts down
    slots = {key_slot(keys.signature_outcome(hashlib.sha256(c).digest())) for c in codes}
    assert 8 < len(slots) <= 16  # 48 outcomes meet in at most 16 slots, yet spread


async def test_forged_codes_leave_no_entry_in_redis_and_valid_ones_stay_their_life(
    make_hub: MakeHub,
) -> None:
    hub = await make_hub()  # the local layer on, as deployed
    r = await hub.post(f"/v1/issuers/{GD}/keys", data=hub.world.key_add(GD), headers=MSGPACK)
    assert r.status == 201
    forged = [forge(hub.world.code(GD, exp=NOW + 86_400)) for _ in range(300)]
    valid = [hub.world.code(GD, exp=NOW + 600) for _ in range(20)]
    results = await verify_batch(hub, [*forged, *valid])
    assert [r["reason"] for r in results] == ["BAD_SIGNATURE"] * 300 + [None] * 20
    again = await verify_batch(hub, forged[:50])  # a repeat is answered alike (locally)
    assert {r["reason"] for r in again} == {"BAD_SIGNATURE"}
    assert await cached(hub, valid) == [b"\x01"] * 20
    lives = await outcome_lives(hub)
    assert len(lives) == 20  # the valid outcomes only: none of the 300 forged
    assert all(600 - 2 <= ttl <= 600 for ttl in lives.values())


async def test_a_second_look_takes_the_outcome_from_redis(make_hub: MakeHub) -> None:
    hub = await hub_without_local_cache(make_hub)
    codes = [hub.world.code((GD, BJ)[i % 2]) for i in range(30)]
    await verify_batch(hub, codes)
    await cached(hub, codes)
    before = cache_counts(await (await hub.get("/metrics")).text(), "redis")
    again = await verify_batch(hub, codes)
    after = cache_counts(await (await hub.get("/metrics")).text(), "redis")
    assert all(r["valid"] for r in again)
    assert after["hit"] - before.get("hit", 0) == 30
    assert after["miss"] == before["miss"]


async def test_an_outcome_another_worker_cached_is_kept_in_this_ones_local_layer(
    make_hub: MakeHub,
) -> None:
    """A worker that met a code another worker had checked first took its outcome from Redis
    every time, decoding the code again and, with leases, never answering it from memory: in
    the bench, the deployment started second on a Redis verified cached batches at 62,000
    codes/s with 2 workers, against 161,000 with that Redis to itself."""
    a = await make_hub()
    b = await make_hub(a.world, a.clock)
    for iss in (GD, BJ):
        r = await a.post(f"/v1/issuers/{iss}/keys", data=a.world.key_add(iss), headers=MSGPACK)
        assert r.status == 201, await r.text()
    codes = [a.world.code((GD, BJ)[i % 2]) for i in range(30)]
    assert all(v["valid"] for v in await verify_batch(a, codes))
    await cached(a, codes)
    assert all(v["valid"] for v in await verify_batch(b, codes))  # from Redis
    before = cache_counts(await (await b.get("/metrics")).text(), "local")
    assert all(v["valid"] for v in await verify_batch(b, codes))
    after = cache_counts(await (await b.get("/metrics")).text(), "local")
    assert after["hit"] - before.get("hit", 0) == 30
    assert after["miss"] == before["miss"]


async def test_scripts_forgotten_by_redis_are_loaded_again(make_hub: MakeHub) -> None:
    hub = await hub_without_local_cache(make_hub)
    await verify_batch(hub, [hub.world.code(GD)])
    await hub.hub.redis.script_flush()  # as after a restart or on a newly promoted replica
    codes = [hub.world.code(HB) for _ in range(5)]
    assert all(r["valid"] for r in await verify_batch(hub, codes))
    assert await cached(hub, codes) == [b"\x01"] * 5


async def test_a_long_queue_of_writes_goes_out_whole_in_scripts_of_bounded_size(
    make_hub: MakeHub,
) -> None:
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


async def test_cached_outcomes_stay_out_of_the_append_only_file(make_hub: MakeHub) -> None:
    """Redis fsyncs the AOF before each reply to a write: cache entries skip it (REPL_NONE), so
    a batch's outcomes neither hold Redis for an fsync nor grow the file (docs/caching.md);
    a status, which must survive a restart, still goes in."""
    hub = await hub_without_local_cache(make_hub)
    redis = hub.hub.redis

    async def aof() -> int:  # the file's size; on a cluster, the masters' files together
        if not isinstance(redis, RedisCluster):
            return int((await redis.info("persistence"))["aof_current_size"])
        masters = [n for n in redis.get_nodes() if n.server_type == "primary"]
        infos = [
            await redis.execute_command("INFO", "persistence", target_nodes=n) for n in masters
        ]
        return sum(int(info["aof_current_size"]) for info in infos)

    before = await aof()
    codes = [hub.world.code((GD, BJ)[i % 2]) for i in range(200)]
    assert all(r["valid"] for r in await verify_batch(hub, codes))
    assert await cached(hub, codes) == [b"\x01"] * 200
    # The client's rate bucket is a durable write of its own (about 200 bytes); the 200 entries
    # took 24 kB of the file before REPL_NONE.
    assert await aof() - before < 1_000
    sub = os.urandom(16)
    r = await hub.post(
        f"/v1/issuers/{GD}/status", data=hub.world.status(GD, [[sub, 2, 1, NOW]]), headers=MSGPACK
    )
    assert r.status == 200, await r.text()
    assert await aof() - before > 1_000 // 5  # the status is in the file
