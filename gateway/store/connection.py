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
"""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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
    await client.initialize()
    return client
