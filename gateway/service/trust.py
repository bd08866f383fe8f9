"""Which trust snapshot this worker verifies with, and the signed list shared by all workers.

The registry's stamp (version and token, ``RegistryStamp``) comes back with every lookup; when
it differs from the snapshot's, the snapshot is rebuilt from Redis before the verdicts are given
(one reload at a time, the others wait for it). Any difference counts, not only a newer one: a
Redis that lost writes must not leave a worker trusting keys the store no longer holds.

A worker also remembers the newest stamp it has seen. A store found behind it (wiped, replaced
or restored from a backup) is renumbered past it with a new token before anything is served
from it, so the trust list's version never goes back nor repeats with other contents (SPEC §6),
and the loss is reported by ``/readyz`` for :data:`LOSS_REPORTED_FOR` seconds: the time issuers
take to read their marks and resend the statuses the store no longer holds (SPEC §4).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.core.crypto import PrivateKey
from gateway.core.model import Domain, IssuerCode
from gateway.core.trust import EMPTY, RegistryStamp, TrustSnapshot
from gateway.core.trustlist import LIFETIME, build_trust_list
from gateway.core.wire import Malformed, decode_envelope
from gateway.errors import Unavailable
from gateway.metrics import Metrics
from gateway.store.registry import RegistryStore

log = logging.getLogger("hcgw")

_REFRESH_AFTER = LIFETIME // 2  # re-sign a list half-way through its life
_RENUMBER_TRIES = 3  # other workers renumbering at the same moment make a try fail; each moves on
LOSS_REPORTED_FOR = 90.0  # SPEC §4: issuers read their mark at least every 60 s, then resend


@dataclass(frozen=True, slots=True)
class RegistryLoss:
    """The store was found behind what this worker had seen: it lost data."""

    at: float  # the hub's clock
    seen: RegistryStamp  # the newest this worker had seen
    found: RegistryStamp  # what the store held


@dataclass(frozen=True, slots=True)
class SignedList:
    version: int
    envelope: bytes
    iat: int  # as signed in the list: the dashboard need not decode what was just signed

    @property
    def exp(self) -> int:
        return self.iat + LIFETIME

    @property
    def list_version(self) -> int:
        """The ``version`` in the list (SPEC §6 counts from 1; ``version`` is the registry's)."""
        return self.version + 1

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
        self.newest = EMPTY.stamp  # the newest registry this worker has seen
        self.loss: RegistryLoss | None = None  # the last time the store was found behind

    async def at(self, stamp: RegistryStamp) -> TrustSnapshot:
        """The snapshot for the registry ``stamp``, reloading when this worker's is not it."""
        held = self.snapshot  # compared field by field: .stamp builds a new object each time
        if self.loaded and held.version == stamp.version and held.token == stamp.token:
            return held
        async with self._lock:
            if not self.loaded or self.snapshot.stamp != stamp:
                await self.reload()
        return self.snapshot

    async def reload(self) -> TrustSnapshot:
        snapshot = await self._store.load(self._issuers)
        for _ in range(_RENUMBER_TRIES):
            if not self._behind(snapshot.stamp):
                break
            self._lost(snapshot.stamp)
            await self._store.renumber(snapshot.stamp, self.newest.version)
            snapshot = await self._store.load(self._issuers)
        if self._behind(snapshot.stamp):  # still: refuse rather than serve an older registry
            raise Unavailable("the trust registry lost data and is being renumbered")
        self.snapshot, self.loaded = snapshot, True
        self.newest = snapshot.stamp
        self._count_keys(snapshot)
        return snapshot

    @property
    def floor(self) -> int:
        """What a registry write must rise above: the newest version this worker has seen."""
        return self.newest.version

    def recent_loss(self) -> RegistryLoss | None:
        loss = self.loss
        if loss is None or self._clock() - loss.at > LOSS_REPORTED_FOR:
            return None
        return loss

    def _behind(self, found: RegistryStamp) -> bool:
        seen = self.newest
        return found.version < seen.version or (found.version == seen.version and found != seen)

    def _lost(self, found: RegistryStamp) -> None:
        if self.loss is None or self.loss.found != found:
            log.error(
                "the trust registry in Redis is at version %d, behind version %d seen here: "
                "the store lost data; renumbering it past %d (keys and statuses it lost must "
                "be sent again: issuers resend statuses from their marks)",
                found.version, self.newest.version, self.newest.version,
            )  # fmt: skip
        self.loss = RegistryLoss(self._clock(), self.newest, found)

    async def signed_list(self) -> SignedList:
        """The one signed copy all workers serve; signed anew when the registry moved, when
        half its life has passed, or when another hub key signed it (the key file was lost
        or rotated: the list must verify under ``/v1/trustlist/key`` at once)."""
        now = int(self._clock())
        snapshot = await self.at(await self._store.stamp())
        held = await self._store.trust_list()
        if (
            held is not None
            and held.stamp == snapshot.stamp
            and now - held.iat < _REFRESH_AFTER
            and self._signed_here(held.envelope)
        ):
            return SignedList(held.stamp.version, held.envelope, held.iat)
        envelope = build_trust_list(snapshot, self._hub_key, now)
        await self._store.offer_trust_list(snapshot.stamp, now, envelope)
        held = await self._store.trust_list()
        if held is None or not self._signed_here(held.envelope):
            # the store lost it between two calls, or a worker with the old key wrote after
            # us: serve what was just signed, under the key this worker publishes
            return SignedList(snapshot.version, envelope, now)
        return SignedList(held.stamp.version, held.envelope, held.iat)

    def _signed_here(self, envelope: bytes) -> bool:
        try:
            return decode_envelope(envelope, Domain.TRUST).kid == self._hub_key.public.kid
        except Malformed:  # not a list this hub could have signed: sign anew
            return False

    def _count_keys(self, snapshot: TrustSnapshot) -> None:
        self._metrics.count_trust(snapshot, self._clock())
