"""An issuer's status channel against a real hub (SPEC §4): consecutive seqs from the mark,
resending from ``mark + 1`` after errors, conflicts and lost state, and the 60 s mark read."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway.launch import free_port
from gateway.store import keys
from hubtest import Clock
from provinces_sim.errors import HubUnreachable, SimError
from provinces_sim.hub import HubApi
from provinces_sim.statuslog import StatusChannel
from provinces_sim.world import World
from sim_support import sim_hub

NOW = 1_600_000_000
GD = "440000"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def hub(redis_url: str, clock: Clock) -> AsyncIterator[HubApi]:
    world = World.create(seed=1, scale=1e-7, now=NOW)
    async with sim_hub(world, redis_url, clock) as url, HubApi(url) as api:
        api.world = world  # type: ignore[attr-defined]
        yield api


def events(n: int, colour: int = 1, sv: int = 1) -> list[list[object]]:
    return [[os.urandom(16), colour, sv, NOW] for _ in range(n)]


def channel_for(hub: HubApi, clock: Clock) -> StatusChannel:
    return StatusChannel(hub.world.issuers[GD], hub, clock)  # type: ignore[attr-defined]


async def stored(redis_url: str, sub: bytes) -> bool:
    client = aioredis.Redis.from_url(redis_url)
    try:
        return bool(await client.exists(keys.status(GD, sub)))
    finally:
        await client.aclose()


async def test_messages_carry_consecutive_seqs_starting_after_the_hubs_mark(
    hub: HubApi, clock: Clock
) -> None:
    first = channel_for(hub, clock)
    assert await first.start() == 0
    for n in (2, 3, 1):
        first.add(events(n))
        first.seal()
    first.seal()  # nothing pending: no message
    await first.flush()
    assert [m.seq for m in first.log] == [1, 2, 3]
    assert (first.acked, await hub.mark(GD), len(first.held)) == (3, 3, 6)
    assert first.delivered
    again = channel_for(hub, clock)  # a later run of the same issuer continues after the mark
    assert await again.start() == 3
    again.add(events(1))
    again.seal()
    await again.flush()
    assert (again.log[0].seq, await hub.mark(GD)) == (4, 4)


async def test_more_than_10000_events_are_split_into_messages_the_hub_accepts(
    hub: HubApi, clock: Clock, redis_url: str
) -> None:
    channel = channel_for(hub, clock)
    await channel.start()
    batch = events(25_000)
    channel.add(batch)
    channel.seal()
    assert [len(m.events) for m in channel.log] == [10_000, 10_000, 5_000]
    await channel.flush()
    assert await hub.mark(GD) == 3
    assert await stored(redis_url, batch[-1][0])  # type: ignore[arg-type]


async def test_a_hub_that_lost_statuses_and_mark_gets_everything_resent_from_mark_plus_one(
    hub: HubApi, clock: Clock, redis_url: str
) -> None:
    channel = channel_for(hub, clock)
    await channel.start()
    sent = events(3, colour=2, sv=4)
    for event in sent:
        channel.add([event])
        channel.seal()
    await channel.flush()
    client = aioredis.Redis.from_url(redis_url)
    try:  # a Redis restored from an old backup: statuses and mark gone, nonces still there
        lost = [k async for k in client.scan_iter(match=keys.status_prefix(GD) + b"*")]
        await client.delete(keys.mark(GD), *lost)
    finally:
        await client.aclose()
    assert len(lost) == 3
    channel.add(events(1))
    channel.seal()
    await channel.flush()  # seq 4 → 409 seq_gap (mark 0) → read the mark → resend 1, 2, 3, 4
    assert await hub.mark(GD) == 4
    # resent: 1, 2 and 3, which the hub lost, and 4, refused the first time
    assert (channel.stats.conflicts, channel.stats.fallbacks, channel.stats.resends) == (1, 1, 4)
    for event in sent:  # back, re-signed with fresh nonces (a reused one would be a 409 replay)
        assert await stored(redis_url, event[0])  # type: ignore[arg-type]
        assert channel.status_of(event[0]) == (2, 4)  # type: ignore[arg-type]


async def test_a_message_applied_before_its_answer_was_lost_is_not_applied_twice(
    hub: HubApi, clock: Clock
) -> None:
    channel = channel_for(hub, clock)
    await channel.start()
    batch = events(2, colour=2, sv=3)
    channel.add(batch)
    channel.seal()
    issuer = channel.issuer  # the first attempt went through; its answer never came back
    await hub.manage(GD, "status", issuer.message("status", NOW, seq=1, events=batch))
    await channel.flush()  # seq 1 → 409 stale_seq → the mark says 1: held, nothing to resend
    assert (channel.stats.conflicts, channel.acked, await hub.mark(GD)) == (1, 1, 1)
    assert channel.status_of(batch[0][0]) == (2, 3)  # type: ignore[arg-type]


async def test_an_unreachable_hub_leaves_the_channel_unsettled_until_it_reads_the_mark(
    hub: HubApi, clock: Clock
) -> None:
    channel = channel_for(hub, clock)
    await channel.start()
    channel.add(events(2))
    channel.seal()
    async with HubApi(f"http://127.0.0.1:{free_port()}") as nowhere:
        channel.hub = nowhere
        with pytest.raises(HubUnreachable, match=r"the hub at http://127\.0\.0\.1:\d+ is unre"):
            await channel.flush()
    assert not channel.settled and channel.acked == 0
    channel.hub = hub
    await channel.flush()
    assert channel.delivered and channel.stats.mark_reads == 2 and await hub.mark(GD) == 1


async def test_the_mark_is_read_at_least_every_60_seconds(hub: HubApi, clock: Clock) -> None:
    channel = channel_for(hub, clock)
    await channel.start()
    await channel.flush()
    clock.now += 59
    await channel.flush()
    assert channel.stats.mark_reads == 1
    clock.now += 2
    await channel.flush()
    assert channel.stats.mark_reads == 2


async def test_a_mark_past_the_issuers_own_log_is_reported_not_papered_over(
    hub: HubApi, clock: Clock
) -> None:
    channel = channel_for(hub, clock)
    await channel.start()
    await hub.manage(GD, "status", channel.issuer.message("status", NOW, seq=1, events=[]))
    with pytest.raises(SimError, match="another process sending status for it"):
        await channel.resync()
