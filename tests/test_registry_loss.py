"""A Redis that forgets (issue 10): a wiped or replaced store never makes a worker trust what it
no longer holds, never brings a revoked key back, and never moves the trust list's version back
or repeats it with other contents (SPEC §4, §6). Two hubs on one Redis stand for two workers:
they share nothing else.
"""

from __future__ import annotations

import shutil
from typing import Any

import msgpack
import pytest

from factory import BJ, GD, HB, MSGPACK, TRUST_TOKEN, World, bearer
from gateway.core.model import Domain
from gateway.core.wire import decode_envelope
from gateway.service.trust import LOSS_REPORTED_FOR
from gateway.store.embedded import EmbeddedRedis
from hubtest import Clock, HubClient, MakeHub

pytestmark = pytest.mark.slow


def wipe(redis: EmbeddedRedis) -> None:
    """kill -9, then start an empty server on the same port: the data files are gone."""
    redis.kill9()
    for path in redis.data_dir.iterdir():
        if path.name.startswith("appendonly") or path.suffix == ".rdb":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    redis.restart_sync()


async def write(hub: HubClient, path: str, body: bytes) -> int:
    r = await hub.post(path, data=body, headers=MSGPACK)
    return r.status


async def add(hub: HubClient, iss: str) -> None:
    assert await write(hub, f"/v1/issuers/{iss}/keys", hub.world.key_add(iss)) == 201


async def revoke(hub: HubClient, iss: str) -> None:
    kid = hub.world.issuers[iss].code_key.public.kid
    message = hub.world.message(iss, "key.revoke", kid=kid)
    assert await write(hub, f"/v1/issuers/{iss}/keys/revoke", message) == 200


async def verdict(hub: HubClient, iss: str) -> tuple[bool, str | None]:
    r = await hub.post("/v1/verify", data=hub.world.code(iss), headers={**bearer(), **MSGPACK})
    body = await r.json()
    return body["valid"], body["reason"]


async def trust_list(hub: HubClient) -> tuple[int, bytes]:
    r = await hub.get("/v1/trustlist", headers=bearer(TRUST_TOKEN))
    assert r.status == 200
    raw = await r.read()
    version: int = msgpack.unpackb(decode_envelope(raw, Domain.TRUST).payload)["version"]
    return version, raw


@pytest.fixture
async def pair(make_hub: MakeHub, fresh_redis: EmbeddedRedis) -> tuple[HubClient, HubClient]:
    world, clock = World.make(), Clock()
    a = await make_hub(world, clock, url=fresh_redis.url)
    b = await make_hub(world, clock, url=fresh_redis.url)
    return a, b


async def test_a_key_revoked_after_redis_lost_its_data_is_revoked_on_every_worker(
    pair: tuple[HubClient, HubClient], fresh_redis: EmbeddedRedis
) -> None:
    a, b = pair
    for iss in (GD, BJ, HB):  # registry version 3
        await add(a, iss)
    assert await verdict(a, GD) == (True, None)
    assert await verdict(b, GD) == (True, None)
    assert await verdict(b, BJ) == (True, None)
    wipe(fresh_redis)
    # At a only: GD's key again, another key, then GD's revoked: a store that counted from 0
    # would be at version 3 again, with other contents.
    await add(a, GD)
    await add(a, HB)
    await revoke(a, GD)
    assert await verdict(b, GD) == (False, "KEY_REVOKED")
    assert await verdict(b, BJ) == (False, "UNKNOWN_KID")  # the new store does not hold it
    assert await verdict(a, BJ) == (False, "UNKNOWN_KID")


async def test_the_trust_list_version_never_goes_back_nor_repeats_after_redis_lost_its_data(
    pair: tuple[HubClient, HubClient], fresh_redis: EmbeddedRedis
) -> None:
    a, b = pair
    seen: dict[int, bytes] = {}

    async def observe(hub: HubClient) -> int:
        version, raw = await trust_list(hub)
        assert seen.setdefault(version, raw) == raw or _same_contents(seen[version], raw)
        assert version >= max(seen)
        return version

    for iss in (GD, BJ):
        await add(a, iss)
    before = await observe(b)
    wipe(fresh_redis)
    after_loss = await observe(b)  # the empty store, signed for the first time
    assert after_loss > before
    await add(a, GD)
    assert await observe(a) > after_loss
    assert await observe(b) > after_loss


async def test_a_worker_fails_closed_on_the_empty_store_and_readyz_reports_the_loss(
    pair: tuple[HubClient, HubClient], fresh_redis: EmbeddedRedis
) -> None:
    """Not ready for as long as issuers take to read their marks and resend (SPEC §4)."""
    a, b = pair
    await add(a, GD)
    assert await verdict(b, GD) == (True, None)
    wipe(fresh_redis)
    assert await verdict(b, GD) == (False, "UNKNOWN_KID")
    r = await b.get("/readyz")
    body = await r.json()
    assert r.status == 503 and any("lost data" in reason for reason in body["reasons"])
    b.clock.now += LOSS_REPORTED_FOR + 1
    assert (await b.get("/readyz")).status == 200


async def test_readyz_is_503_while_redis_refuses_writes(
    make_hub: MakeHub, fresh_redis: EmbeddedRedis
) -> None:
    hub = await make_hub(url=fresh_redis.url)
    assert (await hub.get("/readyz")).status == 200
    await hub.hub.redis.config_set("maxmemory", "1")  # noeviction: every write is refused
    try:
        r = await hub.get("/readyz")
        body = await r.json()
        assert r.status == 503 and any("refuses writes" in x for x in body["reasons"])
    finally:
        await hub.hub.redis.config_set("maxmemory", "0")
    assert (await hub.get("/readyz")).status == 200


def _same_contents(one: bytes, other: bytes) -> bool:
    """Two signings of one registry differ only in iat/exp (and the signature)."""

    def contents(raw: bytes) -> dict[str, Any]:
        doc = msgpack.unpackb(decode_envelope(raw, Domain.TRUST).payload)
        return {k: v for k, v in doc.items() if k not in ("iat", "exp")}

    return contents(one) == contents(other)
