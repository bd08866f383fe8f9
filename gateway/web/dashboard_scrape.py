"""What the operator views refresh before they answer: the gauges of shared state.

/metrics and /dashboard/data first bring up to date, in the worker that got the request:
this process's gauges (requests in flight, local cache entries); the trust gauges from its
snapshot (keys by state, keys near their naf, how long each issuer can still sign); the signed
list verifiers get (its version, iat and exp: asked of the trust keeper, which re-signs it here
when it is due, exactly as ``GET /v1/trustlist`` would); and Redis: a PING's round trip and
DBSIZE. A Redis that does not answer costs this request at most the client's deadline and
leaves ``hcgw_redis_up`` at 0.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from gateway.core.model import Domain
from gateway.core.wire import decode_envelope
from gateway.errors import HcgwError
from gateway.store.failures import redis_errors
from gateway.web.hub import Hub


async def refresh_gauges(hub: Hub) -> None:
    metrics = hub.metrics
    now = hub.clock()
    metrics.publish()
    metrics.count_trust(hub.trust.snapshot, now)
    try:
        started = time.perf_counter()
        async with redis_errors("ping"):
            await hub.redis.ping()
            metrics.redis_ping.set(time.perf_counter() - started)
            metrics.redis_keys.set(await _dbsize(hub))
        metrics.redis_up.set(1)
    except HcgwError:
        metrics.redis_up.set(0)
        metrics.count_redis_error("ping")
        return
    try:
        signed = await hub.trust.signed_list()
    except HcgwError:
        return  # Redis went away between two calls; the next refresh tells
    payload: dict[str, Any] = msgpack.unpackb(
        decode_envelope(signed.envelope, Domain.TRUST).payload
    )
    metrics.list_issued.set(payload["iat"])
    metrics.list_expires.set(payload["exp"])
    metrics.trust_version.set(payload["version"])


async def _dbsize(hub: Hub) -> int:
    size: Any = await hub.redis.dbsize()  # a cluster client answers a sum over its primaries
    return int(sum(size.values()) if isinstance(size, dict) else size)
