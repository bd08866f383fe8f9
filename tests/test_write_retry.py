"""A management write whose reply Redis sent but the hub never received (SPEC §4, §7).

The hub's Redis client retries a call once on a fresh connection when its connection is lost
(gateway/store/connection.py). For a write that Redis had already run, that second run used to
find the nonce used or the seq applied, and the issuer got 409 ``replay``, ``stale_seq`` or
``kid_collision`` for a write that was applied (or, when the lost reply was the nonce's own,
409 ``replay`` for one that never was). A loopback proxy in front of a real Redis loses exactly
one such reply; the issuer must get the answer of the write it sent, applied once.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from factory import GD, MSGPACK, NOW, World, bearer
from faultproxy import ReplyDropper
from gateway.core.admin import StatusEvent
from gateway.core.crypto import spki_of
from gateway.core.model import Colour, IssuerCode
from gateway.core.trust import KeyRecord
from gateway.core.wire import encode_b64url
from gateway.errors import Replay
from gateway.store import keys
from gateway.store.connection import cluster_client
from gateway.store.registry import NonceUse, RegistryStore
from gateway.store.status import StatusStore
from hubtest import HubClient, MakeHub
from load_tests.cluster import LocalCluster


@pytest.fixture
async def dropper(redis_url: str) -> AsyncIterator[ReplyDropper]:
    proxy = ReplyDropper(redis_url)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """Redis itself, beside the proxy: what was applied, read without the hub."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def post(hub: HubClient, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    r = await hub.post(path, data=body, headers=MSGPACK)
    answer: dict[str, Any] = await r.json()
    return r.status, answer


async def version(store: aioredis.Redis) -> int:
    return int(await store.get(keys.REGISTRY_VERSION) or 0)


@pytest.fixture(params=[False, True], ids=["plain", "leases"])
async def hub(
    request: pytest.FixtureRequest, dropper: ReplyDropper, make_hub: MakeHub
) -> HubClient:
    """A hub that talks to Redis through the proxy and holds a key, leases off and on."""
    client = await make_hub(url=dropper.url, lease_invalidation=request.param)
    status, _ = await post(client, f"/v1/issuers/{GD}/keys", client.world.key_add(GD))
    assert status == 201
    return client


# What the lost reply answered: the nonce's first use, or the write itself.
LOST = ["nonce", "write"]


@pytest.mark.parametrize("lost", LOST)
async def test_a_revocation_whose_reply_was_lost_is_answered_200_and_applied_once(
    hub: HubClient, dropper: ReplyDropper, store: aioredis.Redis, lost: str
) -> None:
    raw = hub.world.code(GD)
    kid = hub.world.issuers[GD].code_key.public.kid
    nonce = os.urandom(16)
    body = hub.world.message(GD, "key.revoke", kid=kid, nonce=nonce)
    before = await version(store)
    dropper.arm(nonce.hex().encode() if lost == "nonce" else kid)
    answer = await post(hub, f"/v1/issuers/{GD}/keys/revoke", body)
    assert dropper.dropped == 1
    assert answer == (200, {"kid": encode_b64url(kid), "revoked": True})
    assert await version(store) == before + 1  # one application
    r = await hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK})
    assert (await r.json())["reason"] == "KEY_REVOKED"
    # The message sent again is still a replay (SPEC §4): only the hub's own retry is let by.
    assert (await post(hub, f"/v1/issuers/{GD}/keys/revoke", body))[1]["error"] == "replay"


@pytest.mark.parametrize("lost", LOST)
async def test_a_status_whose_reply_was_lost_is_answered_200_and_applied_once(
    hub: HubClient, dropper: ReplyDropper, store: aioredis.Redis, lost: str
) -> None:
    sub, other = os.urandom(16), os.urandom(16)
    raw = hub.world.code(GD, sub=sub, col=0, sv=1)
    nonce = os.urandom(16)
    # two events of one subject (one applies) and one of another: applied 2, once
    events = [[sub, 2, 2, NOW], [sub, 1, 1, NOW], [other, 1, 1, NOW]]
    body = hub.world.status(GD, events, nonce=nonce)
    dropper.arm(nonce.hex().encode() if lost == "nonce" else other)
    answer = await post(hub, f"/v1/issuers/{GD}/status", body)
    assert dropper.dropped == 1
    assert answer == (200, {"applied": 2, "mark": 1})
    assert int(await store.get(keys.mark(GD)) or 0) == 1
    r = await hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK})
    assert (await r.json())["colour"] == "red"
    assert (await post(hub, f"/v1/issuers/{GD}/status", body))[1]["error"] == "replay"
    follow = hub.world.status(GD, [])  # the issuer goes on from mark + 1
    assert await post(hub, f"/v1/issuers/{GD}/status", follow) == (200, {"applied": 0, "mark": 2})


@pytest.mark.parametrize("lost", LOST)
async def test_a_key_whose_registration_reply_was_lost_is_answered_201_and_registered_once(
    dropper: ReplyDropper, make_hub: MakeHub, store: aioredis.Redis, lost: str
) -> None:
    world = World.make()
    hub = await make_hub(world, url=dropper.url)
    key = world.issuers[GD].code_key
    kid = key.public.kid
    nonce = os.urandom(16)
    body = world.key_add(GD, nonce=nonce)
    # the key itself travels only in the write (the kid also in the collision check before it)
    dropper.arm(nonce.hex().encode() if lost == "nonce" else spki_of(key)[-32:])
    assert await post(hub, f"/v1/issuers/{GD}/keys", body) == (201, {"kid": encode_b64url(kid)})
    assert dropper.dropped == 1
    assert await version(store) == 1
    r = await hub.post("/v1/verify", data=world.code(GD), headers={**bearer(), **MSGPACK})
    assert (await r.json())["valid"] is True
    assert (await post(hub, f"/v1/issuers/{GD}/keys", body))[1]["error"] == "replay"


async def test_a_rejected_message_whose_reply_was_lost_still_keeps_its_nonce_free(
    dropper: ReplyDropper, make_hub: MakeHub, store: aioredis.Redis
) -> None:
    """A status out of sequence is 409 seq_gap whether or not its reply was lost, and uses up
    nothing (SPEC §4): the same nonce is accepted once the message is in order."""
    hub = await make_hub(url=dropper.url)
    nonce = os.urandom(16)
    gap = hub.world.status(GD, [], seq=2, nonce=nonce)
    dropper.arm(nonce.hex().encode())
    status, answer = await post(hub, f"/v1/issuers/{GD}/status", gap)
    assert dropper.dropped == 1
    assert (status, answer["error"], answer["mark"]) == (409, "seq_gap", 0)
    in_order = hub.world.status(GD, [], seq=1, nonce=nonce)
    assert await post(hub, f"/v1/issuers/{GD}/status", in_order) == (200, {"applied": 0, "mark": 1})


@pytest.fixture
async def cluster_via_proxies(redis_cluster: LocalCluster) -> AsyncIterator[ClusterProxies]:
    """The hub's cluster client, dialling every node through a proxy of its own."""
    await redis_cluster.flush()
    proxies = {port: ReplyDropper(f"redis://127.0.0.1:{port}") for port in redis_cluster.ports}
    for proxy in proxies.values():
        await proxy.start()
    by_port = {port: proxy.port for port, proxy in proxies.items()}
    client = await cluster_client(
        redis_cluster.url, address_remap=lambda at: ("127.0.0.1", by_port[at[1]])
    )
    yield ClusterProxies(client, redis_cluster, proxies)
    await client.aclose()
    for proxy in proxies.values():
        await proxy.stop()


@dataclass
class ClusterProxies:
    client: RedisCluster
    cluster: LocalCluster
    proxies: dict[int, ReplyDropper]

    def arm(self, key: str | bytes, needle: bytes) -> None:
        """Arm the proxy of the master that holds ``key``."""
        self.proxies[self.cluster.master_of(key).port or 0].arm(needle)

    @property
    def dropped(self) -> int:
        return sum(proxy.dropped for proxy in self.proxies.values())


async def test_on_a_cluster_a_lost_reply_of_a_revocation_or_a_status_is_answered_once(
    cluster_via_proxies: ClusterProxies,
) -> None:
    """The store's writes on a 3-master cluster, each script's keys in one slot: the cluster
    client's retry of a call whose reply was lost gets the first run's answer."""
    redis = cluster_via_proxies.client
    registry, statuses = RegistryStore(redis), StatusStore(redis)
    iss, key = IssuerCode(GD), World.make().issuers[GD].code_key
    record = KeyRecord(iss=iss, key=key.public, nbf=NOW - 60, naf=NOW + 86_400)
    add = NonceUse.new(iss, os.urandom(16), ttl=60)
    assert await registry.claim_nonce(add)
    cluster_via_proxies.arm(keys.REGISTRY_KEYS, spki_of(key)[-32:])
    assert await registry.add(record, at=NOW, floor=0, use=add) == 1  # not kid_collision
    assert cluster_via_proxies.dropped == 1
    revoke = NonceUse.new(iss, os.urandom(16), ttl=60)
    assert await registry.claim_nonce(revoke)
    cluster_via_proxies.arm(keys.REGISTRY_KEYS, record.kid)
    assert await registry.revoke(record.kid, at=NOW, floor=0, use=revoke) == 2  # not None
    assert cluster_via_proxies.dropped == 2
    assert int(await redis.get(keys.REGISTRY_VERSION) or 0) == 2
    sub = os.urandom(16)
    use = NonceUse.new(iss, os.urandom(16), ttl=60)
    cluster_via_proxies.arm(keys.mark(iss), use.nonce.hex().encode())
    event = StatusEvent(sub=sub, colour=Colour.RED, sv=1, at=NOW)
    assert await statuses.apply(1, [event], use) == 1  # not stale_seq
    assert cluster_via_proxies.dropped == 3
    assert await statuses.mark(iss) == 1
    with pytest.raises(Replay):  # another attempt with that nonce
        await statuses.apply(2, [], NonceUse.new(iss, use.nonce, ttl=60))
