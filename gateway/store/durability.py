"""Can this Redis keep an acknowledged write through a crash? Checked once at start-up.

SPEC §4 promises that an acknowledged ``key.add`` or ``key.revoke`` survives ``kill -9`` of
Redis. That holds only with the append-only file fsynced before every reply
(``appendonly yes``, ``appendfsync always``): ``everysec`` can lose about a second of
acknowledged writes, RDB snapshots everything since the last save. The embedded server is
configured so (``gateway.store.embedded``); an external one is checked here, and the gateway
refuses to start, or warns, as ``redis_durability`` says (docs/durability.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError


@dataclass(frozen=True, slots=True)
class DurabilityReport:
    ok: bool
    problems: tuple[str, ...]
    config_refused: bool = False
    redis_version: str = ""


async def check_durability(client: aioredis.Redis) -> DurabilityReport:
    try:
        info = await client.info("server")
        version = str(info.get("redis_version", ""))
    except RedisError as exc:
        return DurabilityReport(False, (f"Redis did not answer INFO ({type(exc).__name__})",))
    try:
        appendonly = _setting(await client.config_get("appendonly"), "appendonly")
        fsync = _setting(await client.config_get("appendfsync"), "appendfsync")
    except RedisError:
        return DurabilityReport(
            False,
            (
                "CONFIG GET is refused, so appendonly/appendfsync could not be checked; "
                "make sure the server runs with appendonly yes and appendfsync always",
            ),
            config_refused=True,
            redis_version=version,
        )
    problems = []
    if appendonly != b"yes":
        problems.append(
            f"appendonly is {appendonly.decode() or 'unset'}: a crash loses every write since the "
            "last snapshot; set appendonly yes"
        )
    if fsync != b"always":
        problems.append(
            f"appendfsync is {fsync.decode() or 'unset'}: acknowledged revocations can be lost on "
            "a crash (about 1 s with everysec); set appendfsync always"
        )
    return DurabilityReport(not problems, tuple(problems), redis_version=version)


def _setting(reply: Mapping[Any, Any], name: str) -> bytes:
    # redis-py answers CONFIG GET with str or bytes keys depending on version and protocol.
    value = reply.get(name, reply.get(name.encode(), b""))
    return value.encode() if isinstance(value, str) else bytes(value)
