"""The composition root: every object of one gateway process, built once.

``build_hub`` makes them from the settings, one Redis client, the trust-list key, the metrics
and the clock; ``open_hub`` is their life in one process (connect, check durability, build,
load the registry, run the background tasks, close). :class:`Hub` holds them, and answers
``/readyz``'s question. Nothing here is module state: a test builds as many hubs as it likes,
each with its own Redis and a fixed clock.

Imports the operator views, the services, the store, the core, the metrics and the config;
never the web layer, which serves a hub (``gateway.web.hub`` holds it in the aiohttp app), nor
the worker or the command line above it (import-linter's layers).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from gateway.config import Settings
from gateway.core.admin import UploadKey
from gateway.core.crypto import PrivateKey
from gateway.core.model import IssuerCode
from gateway.errors import HcgwError
from gateway.metrics import Metrics
from gateway.operator.views import OperatorViews
from gateway.service.clients import Clients
from gateway.service.health import RedisProbe
from gateway.service.local_cache import LocalCache
from gateway.service.management import ManagementService
from gateway.service.trust import TrustKeeper
from gateway.service.verification import VerificationService
from gateway.store.connection import RedisClient, cluster_client, redis_client
from gateway.store.durability import (
    EvictionWatch,
    check_cluster_durability,
    check_durability,
    refuse_unless_durable,
)
from gateway.store.invalidation import Announcer, Domains, Knowledge, LeaseKeeper, lease_clock
from gateway.store.lookup import LookupCoalescer
from gateway.store.registry import RegistryStore
from gateway.store.status import StatusStore

log = logging.getLogger("hcgw")


@dataclass(slots=True)
class Hub:
    settings: Settings
    clock: Callable[[], float]
    hub_key: PrivateKey
    issuers: frozenset[IssuerCode]
    clients: Clients
    metrics: Metrics
    redis: RedisClient
    lookups: LookupCoalescer
    trust: TrustKeeper
    verification: VerificationService
    management: ManagementService
    local: LocalCache
    probe: RedisProbe
    operator: OperatorViews
    eviction: EvictionWatch | None = None  # set by open_hub once it watches Redis
    leases: LeaseKeeper | None = None  # lease_invalidation (on by default)
    announcer: Announcer | None = None

    async def readiness(self) -> list[str]:
        redis = await self.probe.check(writes=True)
        if not redis.up:
            return list(redis.problems)
        reasons = list(redis.problems)
        if not self.trust.loaded:
            try:
                await self.trust.reload()
            except HcgwError:
                reasons.append("trust registry not loaded")
        if self.eviction is not None and self.eviction.evicting_nodes:
            nodes = ", ".join(sorted(self.eviction.evicting_nodes))
            reasons.append(f"redis may evict keys ({nodes}): set maxmemory-policy noeviction")
        loss = self.trust.recent_loss()
        if loss is not None:
            reasons.append(
                f"redis lost data {self.clock() - loss.at:.0f} s ago: the trust registry was "
                f"at version {loss.found.version}, behind the {loss.seen.version} seen here "
                "(issuers must re-register lost keys; statuses return as issuers resend from "
                "their marks)"
            )
        return reasons


def settle_collector() -> None:
    """Once a process's hub is set up, move everything alive then (modules, the app, the trust
    snapshot) out of the cyclic GC's way with ``gc.freeze()``: full collections then walk only
    what was made since. Done once per process (a test process builds many hubs); the local
    layer's entries are untracked tuples anyway (docs/caching.md, "Collection pauses")."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def build_hub(
    settings: Settings,
    redis: RedisClient,
    hub_key: PrivateKey,
    metrics: Metrics,
    clock: Callable[[], float],
) -> Hub:
    issuers = frozenset(i.iss for i in settings.issuers)
    leases = announcer = None
    if settings.lease_invalidation:
        domains = Domains(sorted(issuers), cluster=settings.redis_cluster)
        leases = LeaseKeeper(redis, Knowledge(lease_clock, domains), lease_clock, domains)
        announcer = Announcer(redis, leases, domains)
    registry = RegistryStore(
        redis, min_replicas=1 if settings.redis_cluster else 0, announcer=announcer
    )
    trust = TrustKeeper(registry, sorted(issuers), hub_key, metrics, clock)
    lookups = LookupCoalescer(
        redis,
        deadline=settings.redis_deadline,
        cluster=settings.redis_cluster,
        knowledge=leases.knowledge if leases is not None else None,
    )
    local = LocalCache(settings.local_cache_size)
    probe = RedisProbe(redis, metrics)
    uploads = {
        key.kid: UploadKey(issuer.iss, key)
        for issuer in settings.issuers
        for key in issuer.upload_keys
    }
    return Hub(
        settings=settings,
        clock=clock,
        hub_key=hub_key,
        issuers=issuers,
        clients=Clients(settings.clients),
        metrics=metrics,
        redis=redis,
        lookups=lookups,
        trust=trust,
        verification=VerificationService(lookups, trust, local, metrics),
        management=ManagementService(
            registry, StatusStore(redis, announcer), trust, uploads, issuers, metrics, clock
        ),
        local=local,
        probe=probe,
        operator=OperatorViews(metrics, trust, probe, clock, issuers),
        leases=leases,
        announcer=announcer,
    )


@asynccontextmanager
async def open_hub(
    settings: Settings,
    redis_url: str,
    hub_key: PrivateKey,
    metrics: Metrics,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Hub]:
    """The hub of one process, open while the ``async with`` lasts: Redis connected and found
    durable (or :class:`DurabilityRefused`), every object built once, the registry loaded (or
    loading once Redis answers), the eviction watch and the lease running; then all closed."""
    redis: RedisClient
    if settings.redis_cluster:
        redis = await cluster_client(redis_url)
        report = await check_cluster_durability(redis)
    else:
        redis = redis_client(redis_url)
        report = await check_durability(redis)
    try:
        warning = refuse_unless_durable(report, settings.redis_durability)
        if warning is not None:
            log.warning(warning)
        hub = build_hub(settings, redis, hub_key, metrics, clock)
        try:
            await hub.trust.reload()
            hub.metrics.redis_up.set(1)
        except HcgwError:
            hub.metrics.redis_up.set(0)
            log.warning("Redis unreachable at start; the registry loads once it answers")
        settle_collector()
        # The policy can be changed at run time (CONFIG SET): watch for evictions.
        hub.eviction = EvictionWatch(redis, hub.issuers)
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(hub.eviction.run(), name="eviction watch")]
        if hub.leases is not None:
            tasks.append(loop.create_task(hub.leases.run(), name="lease"))
        try:
            yield hub
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if hub.leases is not None:  # after its renewals stopped: gone for good
                await hub.leases.release()
        await hub.lookups.close()
        hub.verification.close()
    finally:
        await redis.aclose()
