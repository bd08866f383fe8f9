"""Is Redis there, and does it take writes? The probes ``/readyz`` and the operator views share.

One PING (its round trip is the ``hcgw_redis_ping_seconds`` gauge), then, as the caller asks, a
short-lived write (a Redis out of memory, read-only or unable to persist answers reads, not
writes) and DBSIZE. Each probe sets ``hcgw_redis_up``; a PING that fails counts as a Redis
error (``op="ping"``). Any failure is an answer, never an exception: the caller reports it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.metrics import Metrics
from gateway.store import keys
from gateway.store.connection import RedisClient

PROBE_KEY_MS = 10_000  # the write probe's key lives this long: nothing accumulates


@dataclass(frozen=True, slots=True)
class RedisHealth:
    round_trip: float | None  # seconds the PING took; None: it failed
    problems: tuple[str, ...]  # what is wrong, in words, with Redis's own where it gave them
    keys: int | None = None  # DBSIZE, when asked for and answered

    @property
    def up(self) -> bool:
        return self.round_trip is not None


class RedisProbe:
    def __init__(self, redis: RedisClient, metrics: Metrics) -> None:
        self._redis = redis
        self._metrics = metrics

    async def check(self, *, writes: bool = False, count_keys: bool = False) -> RedisHealth:
        m = self._metrics
        started = time.perf_counter()
        try:
            await self._redis.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means down; the reason is shown
            m.redis_up.set(0)
            m.count_redis_error("ping")
            return RedisHealth(None, (f"redis unreachable ({type(exc).__name__})",))
        round_trip = time.perf_counter() - started
        m.redis_up.set(1)
        m.redis_ping.set(round_trip)
        problems: list[str] = []
        if writes:
            try:
                await self._redis.set(keys.READINESS_PROBE, b"1", px=PROBE_KEY_MS)
            except Exception as exc:  # noqa: BLE001 - the same: reported with Redis's words
                problems.append(f"redis refuses writes ({type(exc).__name__}: {_first_line(exc)})")
        size = None
        if count_keys:
            try:
                answer: Any = await self._redis.dbsize()  # a cluster client: a dict by primary
                size = int(sum(answer.values()) if isinstance(answer, dict) else answer)
                m.redis_keys.set(size)
            except Exception as exc:  # noqa: BLE001 - the keys gauge keeps its last value
                problems.append(f"redis does not count its keys ({type(exc).__name__})")
        return RedisHealth(round_trip, tuple(problems), size)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]
