"""Does the Redis we talk to keep acknowledged writes, across a crash and while it runs?
(SPEC §4 "Durability")

The embedded server is configured for it (``gateway.store.embedded``); an external one may not
be. ``check_durability`` asks the server and reports, in sentences an operator can act on, every
setting that breaks the promise. ``refuse_unless_durable`` decides on the report: it raises
:class:`DurabilityRefused` (the hub does not start) or returns the warning to log
(``redis_durability``, docs/durability.md); a policy that evicts keys is flagged ``evicting``,
which ``warn`` does not cover. Managed Redis services often refuse ``CONFIG``, and a
server may not answer at all; then the guarantee cannot be checked, and that is a problem too.

A crash loses what was not fsynced; eviction loses keys while Redis runs, statuses among them,
and leaves their issuer's mark standing, so nothing would be resent. ``EvictionWatch`` reads
``evicted_keys`` from every node once a second, and whenever it has risen (an operator may switch
``maxmemory-policy`` with CONFIG SET at any time) it sets every issuer's mark back to 0: the
issuers then resend from seq 1, an event applies only where its ``sv`` is newer than what Redis
still holds, and nothing is lost end to end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from gateway.core.model import IssuerCode
from gateway.store import keys

log = logging.getLogger("hcgw")

# Settings read with CONFIG GET, one each: Redis 6.2 takes a single pattern per call.
_SETTINGS = ("appendonly", "appendfsync", "no-appendfsync-on-rewrite", "maxmemory-policy")
NO_EVICTION = "noeviction"


class DurabilityRefused(RuntimeError):
    """Redis cannot keep acknowledged writes and the configuration requires it."""


@dataclass(frozen=True, slots=True)
class DurabilityReport:
    ok: bool
    problems: tuple[str, ...]  # one sentence each: the setting, what can be lost, the fix
    config_refused: bool = False  # CONFIG GET was refused (common on managed services)
    redis_version: str = ""  # from INFO server; empty when Redis did not say
    evicting: bool = False  # maxmemory-policy may evict keys: `warn` does not cover this


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
            pipe.info("memory")  # maxmemory_policy, readable where CONFIG is refused
            replies = await pipe.execute(raise_on_error=False)
    except RedisError as exc:
        problem = (
            f"the durability check got no answer from Redis ({type(exc).__name__}: {exc}), so "
            "the durability guarantee could not be checked"
        )
        return DurabilityReport(False, (problem,))

    *config_replies, info, memory = replies
    redis_version = _redis_version(info)
    policy = _info_field(memory, "maxmemory_policy")
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
        policy = policy.lower()
        evicting = bool(policy) and policy != NO_EVICTION  # INFO tells even so
        unchecked = (problem, _eviction_problem(policy)) if evicting else (problem,)
        return DurabilityReport(False, unchecked, True, redis_version, evicting)

    problems = tuple(_problems(settings))
    evicting = settings["maxmemory-policy"] != NO_EVICTION
    return DurabilityReport(not problems, problems, False, redis_version, evicting)


def refuse_unless_durable(report: DurabilityReport, redis_durability: str) -> str | None:
    """``None`` when Redis keeps acknowledged writes; the warning to log when it does not and
    ``redis_durability`` is ``"warn"``. Raises :class:`DurabilityRefused` when it is
    ``"require"``, and for an evicting policy whatever it is."""
    if report.ok:
        return None
    message = "Redis cannot guarantee acknowledged writes: " + "; ".join(report.problems)
    if report.evicting:  # loses statuses while running, not only in a crash
        raise DurabilityRefused(
            message + ' (redis_durability = "warn" does not cover eviction: '
            "evicted statuses would verify green while their mark stands; "
            "docs/durability.md)"
        )
    if redis_durability == "require":
        raise DurabilityRefused(
            message + " (set HCGW_REDIS_DURABILITY=warn to run anyway; docs/durability.md)"
        )
    return message


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
    if settings["maxmemory-policy"] != NO_EVICTION:
        problems.append(_eviction_problem(settings["maxmemory-policy"]))
    return problems


def _eviction_problem(policy: str) -> str:
    return (
        f"maxmemory-policy is {policy}: when memory runs out Redis silently evicts keys, "
        "registry and status included; set maxmemory-policy noeviction"
    )


def _config_value(reply: object, name: str) -> str | None:
    """The value of one CONFIG GET reply, or None if the server refused or did not know it."""
    if not isinstance(reply, dict):
        return None
    value = reply.get(name.encode()) if name.encode() in reply else reply.get(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").lower()
    return value.lower() if isinstance(value, str) else None


def _redis_version(info: object) -> str:
    # Valkey answers redis_version 7.2.4 for compatibility; its own version is valkey_version.
    valkey = _info_field(info, "valkey_version")
    return f"valkey {valkey}" if valkey else _info_field(info, "redis_version")


def _info_field(info: object, name: str) -> str:
    """One field of an INFO reply as a string; empty when the reply is an error or lacks it."""
    value = info.get(name) if isinstance(info, dict) else None
    return str(value) if value is not None else ""


async def check_cluster_durability(client: RedisCluster) -> DurabilityReport:
    """The same check on every node of a cluster, replicas included: a replica promoted by a
    failover must keep what it was sent just as its master did."""
    problems: list[str] = []
    versions = set()
    evicting = False
    for node in client.get_nodes():
        single = Redis(
            host=node.host, port=int(node.port), socket_timeout=1, socket_connect_timeout=1
        )
        try:
            report = await check_durability(single)
        finally:
            await single.aclose()
        versions.add(report.redis_version)
        evicting = evicting or report.evicting
        problems += [f"node {node.name}: {p}" for p in report.problems]
    return DurabilityReport(
        not problems,
        tuple(problems),
        redis_version=",".join(sorted(versions)),
        evicting=evicting,
    )


@dataclass(frozen=True, slots=True)
class _NodeLook:
    run_id: str  # a new one after every restart: the counter starts again from 0
    evicted: int  # INFO stats evicted_keys
    policy: str  # INFO memory maxmemory_policy; empty when not reported


class EvictionWatch:
    """Falls every issuer's mark back when Redis has evicted keys (see the module docstring).

    Each look costs one INFO per node. The first look also counts what was evicted before this
    process started: an earlier hub may have left marks whose statuses are gone. What a look has
    handled is remembered only once the marks are down, so a failed fallback is tried again.
    Every worker watches for itself; the marks falling twice only makes an issuer that already
    began resending start once more from seq 1.
    """

    def __init__(
        self,
        redis: Redis | RedisCluster,
        issuers: Iterable[IssuerCode],
        *,
        interval: float = 1.0,
        deadline: float = 5.0,
    ) -> None:
        self._redis = redis
        self._marks = [keys.mark(iss) for iss in sorted(issuers)]
        self._interval = interval
        self._deadline = deadline
        self._handled: dict[str, _NodeLook] = {}
        self.evicting_nodes: frozenset[str] = frozenset()  # named with their policy, for logs
        self.fallbacks = 0

    async def run(self) -> None:
        """Look every ``interval`` seconds until cancelled; a Redis failure skips one look."""
        task = asyncio.current_task()
        while True:
            try:
                async with asyncio.timeout(self._deadline):
                    await self.check()
            except (RedisError, TimeoutError, OSError) as exc:
                log.debug("eviction watch: no answer from Redis (%s)", type(exc).__name__)
            except Exception:  # a watch that died would hide every later eviction: log, go on
                log.exception("eviction watch: a look failed; trying again")
            if task is not None and task.cancelling():
                # redis-py's cluster client can swallow a cancellation that lands inside a
                # command (measured here; redis/redis-py#2028 is the same class): honour it.
                raise asyncio.CancelledError
            await asyncio.sleep(self._interval)

    async def check(self) -> int:
        """One look at every node; → how many keys were evicted since the last look (0: none,
        and the marks stand). Raises a RedisError when a node does not answer."""
        looks = await self._look()
        evicted = sum(self._new_evictions(name, look) for name, look in looks.items())
        self._note_policies(looks)
        if evicted:
            async with self._redis.pipeline(transaction=False) as pipe:
                for mark in self._marks:
                    pipe.delete(mark)  # a missing mark reads 0 (and DEL works on a full Redis)
                await pipe.execute()
            self.fallbacks += 1
            log.error(
                "Redis evicted %d keys (INFO evicted_keys): statuses may be gone while their "
                "issuers' marks stood, so every issuer's mark is set back to 0 and they resend "
                "from seq 1; set maxmemory-policy noeviction (docs/durability.md)",
                evicted,
            )
        self._handled.update(looks)
        return evicted

    def _new_evictions(self, name: str, look: _NodeLook) -> int:
        handled = self._handled.get(name)
        if handled is None or handled.run_id != look.run_id or look.evicted < handled.evicted:
            return look.evicted  # first look, a restarted node, or CONFIG RESETSTAT
        return look.evicted - handled.evicted

    def _note_policies(self, looks: dict[str, _NodeLook]) -> None:
        evicting = frozenset(
            f"{name} ({look.policy})"
            for name, look in looks.items()
            if look.policy and look.policy != NO_EVICTION
        )
        for node in sorted(evicting - self.evicting_nodes):
            log.error(
                "Redis node %s evicts keys when memory runs out: statuses can be lost, and "
                "the marks are set back whenever it evicts; set maxmemory-policy noeviction",
                node,
            )
        self.evicting_nodes = evicting

    async def _look(self) -> dict[str, _NodeLook]:
        if isinstance(self._redis, RedisCluster):
            return {
                node.name: _node_look(await self._redis.info(target_nodes=node))
                for node in self._redis.get_nodes()
            }
        return {"redis": _node_look(await self._redis.info())}


def _node_look(info: object) -> _NodeLook:
    evicted = _info_field(info, "evicted_keys")
    return _NodeLook(
        _info_field(info, "run_id"),
        int(evicted) if evicted.isdigit() else 0,
        _info_field(info, "maxmemory_policy").lower(),
    )
