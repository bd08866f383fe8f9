"""The one way the gateway builds a Redis client: bounded in time, bounded in connections.

redis-py's defaults suit a batch job, not a verification hub that owes an answer (or a 503) within
one second (SPEC §7): a hung Redis kept a default client waiting 58 s and a killed one 3.2 s, and
a default pool answered a burst of 1,000 calls with 900 ``MaxConnectionsError``
(../shared/research/reliability-facts.md §4.2). Here every socket operation has a 0.25 s
deadline, a failed call is retried once without backoff (a fresh connection after a Redis
restart), and a burst waits up to 0.5 s for a free connection instead of failing. The client
recovers by itself when Redis comes back: nothing needs to be rebuilt.

``health_check_interval`` stays 0 on purpose. In redis-py 8.1.0 asyncio, the handshake of a new
connection runs the health check, whose failure reconnects, whose handshake runs the health check
again: against a hung Redis (SIGSTOP) a call on a connection idle past the interval never returns,
one level of recursion per socket timeout (measured here; redis/redis-py#3745, open, and the
unmerged fix #3557). The single retry covers what the health check was for: a connection that died
while idle fails its first use and the retry runs on a fresh one.

A retried call may have run already (its reply, not the call, was lost). Reads do not mind, and
every management write script answers its own retry as its first run did (scripts.py).

Commands are packed by hiredis, in C. redis-py's asyncio connections pack in Python even when
hiredis is installed (its synchronous ones do not): for a batch of 1,000 codes the lookup's MGET
of 2,000 keys took 1.3 ms to pack and the outcome writes 2.2 ms, time in which the event loop
serves nobody (issue 11, "a batch does not stall its worker"); hiredis packs the same bytes in
0.26 ms and 0.41 ms (tests/test_redis_connection.py checks they are the same bytes).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

RedisClient = Redis | RedisCluster

SOCKET_TIMEOUT = 0.25
POOL_TIMEOUT = 0.5
HEALTH_CHECK_INTERVAL = 0  # off: see the module docstring


def redis_client(url: str, *, max_connections: int = 64) -> Redis:
    """A client for a ``redis://``, ``rediss://`` or ``unix://`` URL; it owns its pool.

    Query-string options in the URL (``?socket_timeout=1``) override these settings. Close the
    client with ``await client.aclose()``.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=HEALTH_CHECK_INTERVAL,
        decode_responses=False,
    )
    # The URL's scheme chose the class (TCP, TLS or a Unix socket); only its packing changes.
    pool.connection_class = packed_by_hiredis(pool.connection_class)
    return Redis.from_pool(pool)


async def cluster_client(
    url: str,
    *,
    max_connections: int = 64,
    address_remap: Callable[[tuple[str, int]], tuple[str, int]] | None = None,
) -> RedisCluster:
    """A Redis Cluster client from one node's ``redis://`` URL (``redis_cluster = true``).

    Same per-socket deadline; redis-py follows MOVED/ASK and reloads the slot map after a
    failover by itself. The slot map is read here, so a misconfigured URL fails at start-up.
    ``address_remap`` maps a node's address as the cluster announces it to the one to dial
    (a proxy or NAT between the hub and the nodes; the tests' fault proxy).
    """
    client = RedisCluster.from_url(
        url,
        max_connections=max_connections,
        address_remap=address_remap,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        decode_responses=False,
    )
    # The nodes that initialize() finds are made from these arguments (the seed node only
    # discovers them): their connections pack with hiredis too.
    kwargs = client.nodes_manager.connection_kwargs
    kwargs["connection_class"] = packed_by_hiredis(kwargs["connection_class"])
    await client.initialize()
    return client


_hiredis_pack: Callable[..., list[bytes]] = HiredisRespSerializer().pack


# Python 3.12's asyncio.wait_for awaits its coroutine under asyncio.timeout; 3.11's runs it as
# a task of its own and waits for that task.
_WAIT_FOR_MAKES_A_TASK = sys.version_info < (3, 12)


class _HiredisPacking:
    """Packs with hiredis: redis-py's serializer for its synchronous connections (the same
    bytes, and the same ``DataError`` for an argument Redis cannot take). And sends without a
    task of its own on Python 3.11 (:meth:`send_packed_command`)."""

    socket_timeout: float | None
    is_connected: bool

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        return _hiredis_pack(*args)

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        """redis-py's send under the same deadline, kept by ``asyncio.timeout``.

        redis-py bounds a send with ``asyncio.wait_for``; on Python 3.11 that wraps the send in
        a new task, so a command's send costs three turns of the event loop where the write
        itself (a ``writelines`` that rarely waits to drain) costs none. On a worker busy with
        verifications a turn is every request in flight, 1.8 ms with 16 connections: a status
        write's one script took 5.3 ms to come back, a lease reader's confirmation waited as
        long (load_tests/perf/acks.py). Here the deadline is the same ``socket_timeout`` and
        its expiry the same: the connection is dropped (what it had not written with it) and
        redis-py's ``TimeoutError`` raised.
        A send on a connection not yet made takes redis-py's own way (its handshake has
        deadlines of its own)."""
        base: Any = super()
        timeout = self.socket_timeout
        if not (_WAIT_FOR_MAKES_A_TASK and timeout and self.is_connected):
            await base.send_packed_command(command, check_health)
            return
        writer: Any = getattr(self, "_writer", None)
        transport = writer.transport if writer is not None else None
        self.socket_timeout = None  # redis-py then writes and drains in this task
        try:
            async with asyncio.timeout(timeout):
                await base.send_packed_command(command, check_health)
        except TimeoutError:  # (asyncio's own: redis-py's is not a subclass of it)
            # redis-py closed the connection, but a transport closes only once its buffer is
            # written: the rest of the command would reach Redis when it reads again, and
            # run after this call failed. Dropped instead.
            if transport is not None:
                transport.abort()
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = timeout


_PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def packed_by_hiredis(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """``cls`` (once for each class) with its commands packed by hiredis."""
    if issubclass(cls, _HiredisPacking):
        return cls
    if cls not in _PACKED:
        _PACKED[cls] = type(f"Hiredis{cls.__name__}", (_HiredisPacking, cls), {})
    return _PACKED[cls]
