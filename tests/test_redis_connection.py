"""The gateway's Redis clients pack commands with hiredis (gateway/store/connection.py): the
same bytes redis-py's own asyncio packer writes, on every kind of connection and on the nodes of
a cluster, so a 1,000-code batch's lookup no longer holds the event loop while Python packs it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import pytest
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from factory import GD, NOW, World
from gateway.core.model import IssuerCode
from gateway.core.trust import KeyRecord
from gateway.store.connection import (
    cluster_client,
    packed_by_hiredis,
    redis_client,
)
from gateway.store.embedded import EmbeddedRedis
from gateway.store.registry import NonceUse, RegistryStore
from load_tests.cluster import LocalCluster

ARGUMENTS: list[tuple[EncodableT, ...]] = [
    ("GET", b"hcgw:s:\x00\xff"),
    ("CONFIG GET", "maxmemory"),  # a two-word command name is split, as redis-py does
    (b"EVALSHA", "a" * 40, 2, b"k1", b"k2", 0.1, 2.5, 1e20, 1 / 3, -7, 10**30),
    ("SET", "é 周", bytearray(b"\x01\x02"), memoryview(b"view")),
    ("MGET", *(os.urandom(20) for _ in range(2000))),  # a batch's lookup
    ("SET", b"big", b"x" * 10_000),  # over redis-py's buffer cutoff
]


@pytest.mark.parametrize("args", ARGUMENTS, ids=lambda a: str(a[0])[:12])
def test_hiredis_packs_the_bytes_redis_py_packs(args: tuple[EncodableT, ...]) -> None:
    python, hiredis = Connection(), packed_by_hiredis(Connection)()
    assert b"".join(hiredis.pack_command(*args)) == b"".join(python.pack_command(*args))
    commands = [args, ("PING",), args]
    assert b"".join(hiredis.pack_commands(commands)) == b"".join(python.pack_commands(commands))


def test_an_argument_redis_cannot_take_is_a_data_error_as_before() -> None:
    for connection in (Connection(), packed_by_hiredis(Connection)()):
        with pytest.raises(DataError):
            connection.pack_command("SET", "k", True)


def test_each_kind_of_connection_keeps_its_class_and_gets_the_packer() -> None:
    for cls in (Connection, SSLConnection, UnixDomainSocketConnection):
        packed = packed_by_hiredis(cls)
        assert issubclass(packed, cls) and packed is not cls
        assert packed_by_hiredis(cls) is packed and packed_by_hiredis(packed) is packed


async def test_a_single_redis_client_packs_with_hiredis_and_works(
    redis_server: EmbeddedRedis,
) -> None:
    client = redis_client(redis_server.url)
    try:
        cls = client.connection_pool.connection_class
        assert issubclass(cls, UnixDomainSocketConnection)  # the URL's scheme still decides
        assert cls is packed_by_hiredis(UnixDomainSocketConnection)
        keys = [b"pack:" + os.urandom(8) for _ in range(1000)]
        async with client.pipeline(transaction=False) as pipe:
            for i, key in enumerate(keys):
                pipe.set(key, i, ex=60)
            pipe.mget(keys)
            replies = await pipe.execute()
        assert replies[-1] == [str(i).encode() for i in range(1000)]
        assert redis_client("redis://127.0.0.1:1").connection_pool.connection_class is (
            packed_by_hiredis(Connection)
        )
    finally:
        await client.aclose()


async def test_a_cluster_clients_nodes_pack_with_hiredis_and_work(
    redis_cluster: LocalCluster,
) -> None:
    client = await cluster_client(redis_cluster.url)
    try:
        nodes = client.get_nodes()
        # Every master; a replica the slot map lists only once it has linked to its master.
        assert len(client.get_primaries()) == 3 and len(nodes) >= 3
        assert all(node.connection_class is packed_by_hiredis(Connection) for node in nodes)
        keys = [b"pack:" + os.urandom(8) for _ in range(300)]  # over every master's slots
        async with client.pipeline() as pipe:
            for i, key in enumerate(keys):
                pipe.set(key, i, ex=60)
            await pipe.execute()
        assert [await client.get(key) for key in keys[:20]] == [str(i).encode() for i in range(20)]
    finally:
        await client.aclose()


async def test_a_command_is_sent_without_a_task_of_its_own(redis_server: EmbeddedRedis) -> None:
    """Python 3.11's ``asyncio.wait_for``, which redis-py bounds each send with, ran the send as a
    new task: three turns of the event loop for a write that needs none, each turn as long as
    every request in flight on a busy worker (5.3 ms for a status write's one script with 16
    connections). The send keeps its deadline under ``asyncio.timeout`` instead."""
    client = redis_client(redis_server.url)
    loop = asyncio.get_running_loop()
    made: list[object] = []

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    try:
        await client.set(b"task:x", b"1")  # the connection is made (its handshake aside)
        script = client.register_script("return redis.call('GET', KEYS[1])")
        loop.set_task_factory(counting)
        assert await client.get(b"task:x") == b"1"
        assert await script(keys=[b"task:x"]) == b"1"
        assert await client.set(b"task:y", b"2", ex=60)
        assert made == []
    finally:
        loop.set_task_factory(None)
        await client.aclose()


async def test_a_send_that_cannot_drain_still_times_out(redis_server: EmbeddedRedis) -> None:
    """The send's deadline is redis-py's ``socket_timeout``: a Redis that stopped reading
    (SIGSTOP) fills the socket's buffers, and the send fails after it, its connection dropped,
    as redis-py's own send does: ``TimeoutError``, or the ``ConnectionError`` of the one retry's
    new connection, whose handshake Redis cannot answer either. The command it could not send
    does not reach Redis later."""
    client = redis_client(redis_server.url)
    key = b"big:" + os.urandom(4)
    try:
        stalled = await client.client_id()  # the pool's one connection, which the SET takes
        assert redis_server.pid is not None
        os.kill(redis_server.pid, signal.SIGSTOP)
        try:
            # (a guard against a hang, not a measure: the deadline is 0.25 s a try)
            async with asyncio.timeout(30):
                with pytest.raises((RedisTimeoutError, RedisConnectionError)):
                    await client.set(key, os.urandom(64 << 20))
        finally:
            os.kill(redis_server.pid, signal.SIGCONT)
        # What the failed send had not written goes with its connection: once Redis has seen
        # that connection close, nothing of the SET can come after, and the SET never ran.
        # (Kept open to write the rest, the connection closed only after the SET had run.)
        for _ in range(3000):  # up to 30 s: Redis closes it once it reads again
            if str(stalled) not in {str(c["id"]) for c in await client.client_list()}:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("Redis still holds the connection whose send failed")
        assert not await client.exists(key)
    finally:
        await client.aclose()


async def test_on_a_cluster_the_registry_is_read_in_the_workers_loop(
    redis_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py 8.1 runs each command queued in a cluster transaction in a thread of its own,
    with an event loop of its own (``asyncio.run``). A client that reconnected there bound its
    lock to that loop, and the next call on the worker's loop failed: a 500 on ``key.add`` while
    a bench run primed its cluster deployment. The registry's consistent read is one script
    now: no thread, and it reads back what was written."""
    client = await cluster_client(redis_cluster.url)
    started: list[str] = []
    start = threading.Thread.start

    def counted(self: threading.Thread) -> None:
        started.append(self.name)
        start(self)

    try:
        registry = RegistryStore(client)
        iss, key = IssuerCode(GD), World.make().issuers[GD].code_key
        record = KeyRecord(iss=iss, key=key.public, nbf=NOW - 60, naf=NOW + 86_400)
        use = NonceUse.new(iss, os.urandom(16), ttl=60)
        assert await registry.claim_nonce(use)
        version = await registry.add(record, at=NOW, floor=0, use=use)
        monkeypatch.setattr(threading.Thread, "start", counted)
        snapshot = await registry.load([iss])
        assert started == []
        assert snapshot.version == version and snapshot.keys[record.kid] == record
    finally:
        await client.aclose()
