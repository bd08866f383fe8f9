"""The operator views' work: fresh gauges of shared state, /metrics' text, the dashboard's JSON.

Before answering, /metrics and /dashboard/data bring up to date, in the worker that got the
request: this process's gauges (requests in flight, local cache entries); the trust gauges from
its snapshot (keys by state, keys near their naf, how long each issuer can still sign); the
signed list verifiers get (its version, iat and exp, as the trust keeper hands them over: it
re-signs the list here when it is due, exactly as ``GET /v1/trustlist`` would); and Redis, by the
probe ``/readyz`` uses too (a PING's round trip and DBSIZE). A Redis that does not answer costs
this request at most the client's deadline and leaves ``hcgw_redis_up`` at 0. Every scrape of
/metrics refreshes; the dashboard's polls at most twice a second per process, however many pages
are open.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from gateway.errors import HcgwError
from gateway.metrics import Metrics
from gateway.metrics.exposition import exposition, families
from gateway.operator.figures import History, Reading, build
from gateway.service.health import RedisProbe
from gateway.service.trust import TrustKeeper

REFRESH_EVERY = 0.5  # seconds: the dashboard refreshes shared-state gauges at most this often
EVENTS_PER_KIND = 20  # the dashboard's list: the newest writes, keys and refusals, 20 of each


class OperatorViews:
    """One per hub: the readings behind the dashboard's rates and when the gauges were set."""

    def __init__(
        self,
        metrics: Metrics,
        trust: TrustKeeper,
        probe: RedisProbe,
        clock: Callable[[], float],
        issuers: Iterable[str],
    ) -> None:
        self._metrics = metrics
        self._trust = trust
        self._probe = probe
        self._clock = clock
        self._issuers = frozenset(issuers)
        self._history = History()
        self._refreshed = -math.inf

    async def metrics_text(self) -> bytes:
        await self.refresh()  # scrapes are rare; each gets fresh gauges
        m = self._metrics
        return exposition(m.registry, m.multiprocess_dir)

    async def dashboard_data(self, window: float) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._refreshed >= REFRESH_EVERY:
            await self.refresh()
        m = self._metrics
        return build(
            Reading(families(m.registry, m.multiprocess_dir)),
            self._history,
            window=window,
            mono_now=time.monotonic(),
            wall_now=self._clock(),
            issuers=self._issuers,
            events=m.events.recent(EVENTS_PER_KIND),
            pid=os.getpid(),
        )

    async def refresh(self) -> None:
        self._refreshed = time.monotonic()
        m = self._metrics
        m.publish()
        m.count_trust(self._trust.snapshot, self._clock())
        if not (await self._probe.check(count_keys=True)).up:
            return
        try:
            signed = await self._trust.signed_list()
        except HcgwError:
            return  # Redis went away between two calls; the next refresh tells
        m.list_issued.set(signed.iat)
        m.list_expires.set(signed.exp)
        m.trust_version.set(signed.list_version)
