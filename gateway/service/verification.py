"""Verifying codes: the one place that knows the order of the layers.

For each code: the local layer (digest → decoded code + signature outcome), else strict
decoding; then one shared Redis round trip (registry stamp, subject statuses, cached
signature outcomes for local misses, the client's rate charge); then the trust snapshot for
that stamp, steps 2–6, the signature (cached, or checked and then cached in both layers; an
outcome from Redis is kept in the local layer too), steps 8–9 and the colour; then metrics.
Nothing is cached for a code that does not decode or whose key is not found, and an invalid
signature only in the local layer: what a client can forge must not reach Redis
(docs/caching.md, "What one client can make the hub remember").

A batch must not hold the event loop: decoding and the signature checks of 1,000 new codes take
50–150 ms, and a cached single code behind them would wait for all of it (issue 11). So the
Python work on a request's codes yields every :data:`SLICE`, its signature checks, from
:data:`OFFLOAD_AT` on, run in one worker thread per process while the loop serves the others
(docs/decisions.md), and batches take turns for their Python work: with four batches in flight
a single code could wait behind a slice of each at every step of its own, where one batch at a
time leaves it one (the bench's stall block did not resolve the difference from its noise:
docs/caching.md, "A batch beside a single code").
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gateway.config import ClientConfig
from gateway.core.model import MALFORMED, Code, Status, Verdict
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.core.verify import find_key, judge, signature_holds
from gateway.core.wire import Malformed, decode_code
from gateway.errors import RateLimited, Unavailable
from gateway.metrics import Metrics
from gateway.service.local_cache import Checked, LocalCache
from gateway.service.rates import RateLeases
from gateway.service.trust import TrustKeeper
from gateway.store.lookup import Facts, Fetched, Item, LookupCoalescer, RateCharge

SLICE = 0.001  # seconds a batch's Python work may hold the loop before it yields (docs/caching.md)
OFFLOAD_AT = 16  # signatures to check in one request from which they go to the worker thread


class _Slices:
    """A batch's Python work on the loop, in turns: one batch at a time holds a turn (so a cached
    single code waits behind one slice, not behind one slice of every batch in flight), and its
    work yields once :data:`SLICE` has passed. A batch holds no turn while it waits for Redis or
    for the signature thread. A single code takes no turn and never yields: its work is a few
    microseconds."""

    __slots__ = ("_turn", "_until")

    def __init__(self, turn: asyncio.Lock | None) -> None:
        self._turn = turn
        self._until = 0.0

    async def __aenter__(self) -> None:
        if self._turn is not None:
            await self._turn.acquire()
            self._until = time.perf_counter() + SLICE

    async def __aexit__(self, *exc: object) -> None:
        if self._turn is not None:
            self._turn.release()

    def due(self) -> bool:
        return self._turn is not None and time.perf_counter() > self._until

    async def pause(self) -> None:
        await asyncio.sleep(0)
        self._until = time.perf_counter() + SLICE


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
        self._checker = ThreadPoolExecutor(1, thread_name_prefix="hcgw-signatures")
        self._batch_turn = asyncio.Lock()
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
        clock = time.perf_counter
        slices = _Slices(self._batch_turn if len(envelopes) > 1 else None)
        work: list[_Work | Verdict] = []
        items: list[Item] = []
        local_hits = 0
        async with slices:
            for envelope in envelopes:
                w = self._prepare(envelope, now)
                work.append(w)
                if isinstance(w, _Work):
                    known = w.signature_valid is not None
                    items.append((w.code.iss, w.code.sub, None if known else w.digest))
                    local_hits += known
                if slices.due():
                    await slices.pause()
        looked_up = len(envelopes) - envelopes.count(None)
        self._metrics.count_local_cache(local_hits, looked_up - local_hits)
        if client is not None:
            self._metrics.count_client(client.id, len(envelopes))
        charge = self._rates.plan(client, max(1, len(envelopes))) if client else None
        started = clock()
        try:
            facts = await self._lookups.read(items, charge)
        except BaseException as exc:  # Unavailable, or the client went away: end the lease
            self._rates.settle(charge, None)
            self._count_failure(client, exc)
            raise
        if not facts.from_memory:  # the histogram is of round trips (docs/operations.md)
            self._metrics.redis_lookup.observe(clock() - started)
        self._settle(client, charge, facts)
        trust = await self._trust.at(facts.registry)
        verdicts = await self._finish(work, facts, trust, now, slices)
        async with slices:
            self._metrics.count_verdicts(verdicts)
            asked = [w.redis_hit for w in work if isinstance(w, _Work) and w.redis_hit is not None]
            self._metrics.count_redis_cache(asked.count(True), asked.count(False))
        return verdicts

    async def _finish(
        self,
        work: list[_Work | Verdict],
        facts: Facts,
        trust: TrustSnapshot,
        now: int,
        slices: _Slices,
    ) -> list[Verdict]:
        """Steps 2–6, the signatures not known yet (checked, then cached), steps 8–9."""
        out: list[Verdict] = []
        unjudged: list[tuple[int, _Work, KeyRecord, Status | None]] = []
        statuses, outcomes = iter(facts.statuses), iter(facts.outcomes)
        async with slices:
            for w in work:
                if not isinstance(w, _Work):
                    out.append(w)
                    continue
                status, cached = next(statuses), next(outcomes)
                found = find_key(w.code, trust)
                if isinstance(found, Verdict):
                    out.append(found)
                    continue
                if w.signature_valid is None:
                    w.redis_hit = cached is not None
                    if cached is None:
                        unjudged.append((len(out), w, found, status))
                        out.append(MALFORMED)  # a place only: judged once its signature is checked
                        continue
                    w.signature_valid = cached
                    if w.code.exp > now:  # another worker checked it: this one keeps it too
                        self._local.put(w.digest, Checked(w.code, cached), now)
                out.append(judge(w.code, w.signature_valid, now, status))
                if slices.due():
                    await slices.pause()
        if not unjudged:
            return out
        results = await self._check_signatures([(w.code, record) for _, w, record, _ in unjudged])
        async with slices:
            valid: list[tuple[bytes, int]] = []
            for (at, w, _, status), ok in zip(unjudged, results, strict=True):
                w.signature_valid = ok
                ttl = w.code.exp - now
                # Only a valid signature goes to Redis: anyone can forge an invalid one, with any
                # exp, and Redis (noeviction) must not fill with them (docs/caching.md).
                if ok and ttl > 0:
                    valid.append((w.digest, ttl))
                if w.code.exp > now:
                    self._local.put(w.digest, Checked(w.code, ok), now)
                out[at] = judge(w.code, ok, now, status)
                if slices.due():
                    await slices.pause()
            if valid:
                self._lookups.remember_valid(valid)
        return out

    async def _check_signatures(self, pairs: list[tuple[Code, KeyRecord]]) -> list[bool]:
        """Step 7 for codes whose outcome no layer holds; many at once go to the worker thread,
        whose libsodium and OpenSSL calls release the GIL, so the loop serves meanwhile."""
        if len(pairs) < OFFLOAD_AT:
            return [signature_holds(code, record) for code, record in pairs]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._checker, _check_all, pairs)

    def close(self) -> None:
        self._checker.shutdown(wait=False, cancel_futures=True)

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


def _check_all(pairs: list[tuple[Code, KeyRecord]]) -> list[bool]:
    return [signature_holds(code, record) for code, record in pairs]
