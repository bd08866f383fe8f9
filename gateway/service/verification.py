"""Verifying codes: the one place that knows the order of the layers.

For each code: the local layer (digest → decoded code + signature outcome), else strict
decoding; then one shared Redis round trip (registry stamp, subject statuses, cached
signature outcomes for local misses, the client's rate charge); then the trust snapshot for
that stamp, steps 2–6, the signature (cached, or checked and then cached in both layers),
steps 8–9 and the colour; then metrics. Nothing is cached for a code that does not decode or
whose key is not found, and an invalid signature only in the local layer: what a client can
forge must not reach Redis (docs/caching.md, "What one client can make the hub remember").
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.config import ClientConfig
from gateway.core.model import MALFORMED, Code, Status, Verdict
from gateway.core.trust import TrustSnapshot
from gateway.core.verify import find_key, judge, signature_holds
from gateway.core.wire import Malformed, decode_code
from gateway.errors import RateLimited, Unavailable
from gateway.metrics import Metrics
from gateway.service.local_cache import Checked, LocalCache
from gateway.service.rates import RateLeases
from gateway.service.trust import TrustKeeper
from gateway.store.lookup import Facts, Fetched, Item, LookupCoalescer, RateCharge


@dataclass(slots=True)
class _Work:
    digest: bytes
    code: Code
    signature_valid: bool | None  # None: not known yet in this process
    redis_hit: bool | None = None  # whether Redis knew the outcome; None: not asked


class VerificationService:
    def __init__(
        self,
        lookups: LookupCoalescer,
        trust: TrustKeeper,
        local: LocalCache,
        metrics: Metrics,
    ) -> None:
        self._lookups = lookups
        self._trust = trust
        self._local = local
        self._metrics = metrics
        self._rates = RateLeases()
        metrics.watch_local_cache(local.__len__)

    async def charge(self, client: ClientConfig, cost: int = 1) -> None:
        """Charge a request whose codes are not read: it failed first, or it is not a verify
        call (SPEC §5: 429 takes precedence over 413, 415 and 400)."""
        self._metrics.count_client(client.id, 0)
        charge = self._rates.plan(client, cost)
        if charge is not None:
            try:
                fetched = await self._lookups.charge(charge)
            except BaseException as exc:  # Unavailable, or the client went away: end the lease
                self._rates.settle(charge, None)
                self._count_failure(client, exc)
                raise
            self._settle(client, charge, fetched)

    async def verify(
        self, envelopes: Sequence[bytes | None], now: int, client: ClientConfig | None
    ) -> list[Verdict]:
        """Verdicts in input order; ``None`` stands for an element that is not a code. The
        client (None: not rate-limited) pays one token per element."""
        work: list[_Work | Verdict] = [self._prepare(e, now) for e in envelopes]
        items: list[Item] = []
        local_hits = 0
        for w in work:
            if isinstance(w, _Work):
                known = w.signature_valid is not None
                items.append((w.code.iss, w.code.sub, None if known else w.digest))
                local_hits += known
        looked_up = len(envelopes) - envelopes.count(None)
        self._metrics.count_local_cache(local_hits, looked_up - local_hits)
        if client is not None:
            self._metrics.count_client(client.id, len(envelopes))
        charge = self._rates.plan(client, max(1, len(envelopes))) if client else None
        started = time.perf_counter()
        try:
            facts = await self._lookups.read(items, charge)
        except BaseException as exc:  # Unavailable, or the client went away: end the lease
            self._rates.settle(charge, None)
            self._count_failure(client, exc)
            raise
        self._metrics.redis_lookup.observe(time.perf_counter() - started)
        self._settle(client, charge, facts)
        trust = await self._trust.at(facts.registry)
        statuses, outcomes = iter(facts.statuses), iter(facts.outcomes)
        verdicts = []
        for w in work:
            if isinstance(w, _Work):
                verdict = self._finish(w, next(outcomes), trust, now, next(statuses))
            else:
                verdict = w
            verdicts.append(verdict)
        self._metrics.count_verdicts(verdicts)
        asked = [w.redis_hit for w in work if isinstance(w, _Work) and w.redis_hit is not None]
        self._metrics.count_redis_cache(asked.count(True), asked.count(False))
        return verdicts

    def _settle(
        self, client: ClientConfig | None, charge: RateCharge | None, fetched: Fetched | Facts
    ) -> None:
        try:
            self._rates.settle(charge, fetched)
        except RateLimited:
            if client is not None:
                self._metrics.count_client_rejected(client.id, "rate_limited")
            raise

    def _count_failure(self, client: ClientConfig | None, exc: BaseException) -> None:
        if isinstance(exc, Unavailable):
            self._metrics.count_redis_error("lookup")
            if client is not None:
                self._metrics.count_client_rejected(client.id, "unavailable")

    def _prepare(self, envelope: bytes | None, now: int) -> _Work | Verdict:
        if envelope is None:
            return MALFORMED
        digest = hashlib.sha256(envelope).digest()
        hit = self._local.get(digest, now)
        if hit is not None:
            return _Work(digest, hit.code, hit.signature_valid)
        try:
            return _Work(digest, decode_code(envelope), None)
        except Malformed:
            return MALFORMED

    def _finish(
        self,
        w: _Work,
        cached: bool | None,
        trust: TrustSnapshot,
        now: int,
        status: Status | None,
    ) -> Verdict:
        found = find_key(w.code, trust)
        if isinstance(found, Verdict):
            return found
        if w.signature_valid is None:
            w.redis_hit = cached is not None
            if cached is not None:
                w.signature_valid = cached
            else:
                w.signature_valid = signature_holds(w.code, found)
                ttl = w.code.exp - now
                # Only a valid signature goes to Redis: anyone can forge an invalid one, with
                # any exp, and Redis (noeviction) must not fill with them (docs/caching.md).
                if w.signature_valid and ttl > 0:
                    self._lookups.remember_valid(w.digest, ttl)
            if w.code.exp > now:
                self._local.put(w.digest, Checked(w.code, w.signature_valid), now)
        return judge(w.code, w.signature_valid, now, status)
