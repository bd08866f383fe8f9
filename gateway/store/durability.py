"""Does the Redis we talk to keep acknowledged writes across a crash? (SPEC §4 "Durability")

The embedded server is configured for it (``gateway.store.embedded``); an external one may not
be. ``check_durability`` asks the server and reports, in sentences an operator can act on, every
setting that breaks the promise. It decides nothing: the caller refuses to start or warns
(``redis_durability``, docs/durability.md). Managed Redis services often refuse ``CONFIG``, and a
server may not answer at all; then the guarantee cannot be checked, and that is a problem too.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

# Settings read with CONFIG GET, one each: Redis 6.2 takes a single pattern per call.
_SETTINGS = ("appendonly", "appendfsync", "no-appendfsync-on-rewrite", "maxmemory-policy")


@dataclass(frozen=True, slots=True)
class DurabilityReport:
    ok: bool
    problems: tuple[str, ...]  # one sentence each: the setting, what can be lost, the fix
    config_refused: bool = False  # CONFIG GET was refused (common on managed services)
    redis_version: str = ""  # from INFO server; empty when Redis did not say


async def check_durability(client: Redis) -> DurabilityReport:
    """Read the server's persistence settings and say whether acknowledged writes survive a crash.

    One round trip. Never raises for a Redis failure: an unreachable server is reported as a
    problem, because then nothing can be promised either.
    """
    try:
        async with client.pipeline(transaction=False) as pipe:
            for name in _SETTINGS:
                pipe.config_get(name)
            pipe.info("server")
            replies = await pipe.execute(raise_on_error=False)
    except RedisError as exc:
        problem = (
            f"the durability check got no answer from Redis ({type(exc).__name__}: {exc}), so "
            "the durability guarantee could not be checked"
        )
        return DurabilityReport(False, (problem,))

    *config_replies, info = replies
    redis_version = _redis_version(info)
    settings: dict[str, str] = {}
    for name, reply in zip(_SETTINGS, config_replies, strict=True):
        value = _config_value(reply, name)
        if value is not None:
            settings[name] = value
    if len(settings) < len(_SETTINGS):
        refusal = next((r for r in config_replies if isinstance(r, ResponseError)), None)
        unread = ", ".join(name for name in _SETTINGS if name not in settings)
        problem = (
            (
                f"the server refused CONFIG GET ({refusal})"
                if refusal
                else f"the server did not report {unread}"
            )
            + ", so the durability guarantee could not be checked; run it with appendonly yes, "
            "appendfsync always and maxmemory-policy noeviction, or use the embedded redis-server"
        )
        return DurabilityReport(False, (problem,), True, redis_version)

    problems = tuple(_problems(settings))
    return DurabilityReport(not problems, problems, False, redis_version)


def _problems(settings: dict[str, str]) -> list[str]:
    problems = []
    if settings["appendonly"] != "yes":
        problems.append(
            f"appendonly is {settings['appendonly']}: writes live in memory and RDB snapshots "
            "only, so everything since the last snapshot is lost on a crash; set appendonly yes"
        )
    fsync = settings["appendfsync"]
    if fsync == "everysec":
        problems.append(
            "appendfsync is everysec: up to 1 s of acknowledged revocations can be lost on a "
            "crash; set appendfsync always"
        )
    elif fsync != "always":
        problems.append(
            f"appendfsync is {fsync}: the kernel flushes the AOF when it likes (about every "
            "30 s), so acknowledged revocations can be lost on a crash; set appendfsync always"
        )
    if settings["no-appendfsync-on-rewrite"] == "yes":
        problems.append(
            "no-appendfsync-on-rewrite is yes: while the AOF is rewritten, acknowledged writes "
            "are not fsynced and can be lost on a crash; set no-appendfsync-on-rewrite no"
        )
    if settings["maxmemory-policy"] != "noeviction":
        problems.append(
            f"maxmemory-policy is {settings['maxmemory-policy']}: when memory runs out Redis "
            "silently evicts keys, registry and status included; set maxmemory-policy noeviction"
        )
    return problems


def _config_value(reply: object, name: str) -> str | None:
    """The value of one CONFIG GET reply, or None if the server refused or did not know it."""
    if not isinstance(reply, dict):
        return None
    value = reply.get(name.encode()) if name.encode() in reply else reply.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").lower()
    return value.lower() if isinstance(value, str) else None


def _redis_version(info: object) -> str:
    version = info.get("redis_version") if isinstance(info, dict) else None
    return str(version) if version is not None else ""


async def check_cluster_durability(client: RedisCluster) -> DurabilityReport:
    """The same check on every node of a cluster, replicas included: a replica promoted by a
    failover must keep what it was sent just as its master did."""
    problems: list[str] = []
    versions = set()
    for node in client.get_nodes():
        single = Redis(
            host=node.host, port=int(node.port), socket_timeout=1, socket_connect_timeout=1
        )
        try:
            report = await check_durability(single)
        finally:
            await single.aclose()
        versions.add(report.redis_version)
        problems += [f"node {node.name}: {p}" for p in report.problems]
    return DurabilityReport(not problems, tuple(problems), redis_version=",".join(sorted(versions)))
