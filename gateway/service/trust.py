"""Which trust snapshot this worker verifies with, and the signed list shared by all workers.

The registry version comes back with every lookup; when it differs from the snapshot's, the
snapshot is rebuilt from Redis before the verdicts are given (one reload at a time, the others
wait for it). Any difference counts, not only a newer one: a Redis that lost writes must not
leave a worker trusting keys the store no longer holds.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.core.crypto import PrivateKey
from gateway.core.model import IssuerCode
from gateway.core.trust import EMPTY, TrustSnapshot
from gateway.core.trustlist import LIFETIME, build_trust_list
from gateway.metrics import Metrics
from gateway.store.registry import RegistryStore

_REFRESH_AFTER = LIFETIME // 2  # re-sign a list half-way through its life


@dataclass(frozen=True, slots=True)
class SignedList:
    version: int
    envelope: bytes

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.envelope).hexdigest()[:32] + '"'


class TrustKeeper:
    def __init__(
        self,
        store: RegistryStore,
        issuers: Iterable[IssuerCode],
        hub_key: PrivateKey,
        metrics: Metrics,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._issuers = tuple(issuers)
        self._hub_key = hub_key
        self._metrics = metrics
        self._clock = clock
        self._lock = asyncio.Lock()
        self.snapshot: TrustSnapshot = EMPTY
        self.loaded = False

    async def at(self, version: int) -> TrustSnapshot:
        """The snapshot for registry ``version``, reloading when this worker's is not it."""
        if self.loaded and self.snapshot.version == version:
            return self.snapshot
        async with self._lock:
            if not self.loaded or self.snapshot.version != version:
                await self.reload()
        return self.snapshot

    async def reload(self) -> TrustSnapshot:
        snapshot = await self._store.load(self._issuers)
        self.snapshot, self.loaded = snapshot, True
        self._count_keys(snapshot)
        return snapshot

    async def signed_list(self) -> SignedList:
        """The one signed copy all workers serve; signed anew when the registry moved."""
        now = int(self._clock())
        version = await self._store.version()
        held = await self._store.trust_list()
        if held is not None and held[0] == version and now - held[1] < _REFRESH_AFTER:
            return SignedList(held[0], held[2])
        snapshot = await self.at(version)
        envelope = build_trust_list(snapshot, self._hub_key, now)
        await self._store.offer_trust_list(snapshot.version, now, envelope)
        held = await self._store.trust_list()
        if held is None:  # the store lost it between two calls; serve what was just signed
            return SignedList(snapshot.version, envelope)
        return SignedList(held[0], held[2])

    def _count_keys(self, snapshot: TrustSnapshot) -> None:
        self._metrics.count_trust(snapshot, self._clock())
