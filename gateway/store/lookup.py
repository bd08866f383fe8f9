"""One Redis round trip for many verifications: the lookup coalescer.

A verification needs fresh facts from Redis: the registry's stamp (has a key been revoked?),
the subject's status, and, on a local cache miss, the cached signature outcome; a verifier
client's request also takes tokens from its hub-wide rate bucket. Concurrent requests put their
reads in a queue; one task sends the whole queue as a single pipeline (the rate scripts, the
cache writes queued since the last one as one script per slot, then one MGET per slot) and
hands each request its slice. A read only joins a pipeline that has not been sent yet, so every
verification that starts after a write's acknowledgement reads that write.

The service asks in its own words: :meth:`LookupCoalescer.read` takes ``(iss, sub, digest)``
items and a rate charge and answers :class:`Facts` (the registry stamp, each subject's
:class:`Status`, each cached signature outcome, the grant); :meth:`LookupCoalescer.remember_valid`
writes an outcome. Key names and value encodings stay in ``gateway/store/``.

Measured here (docs/caching.md): a sequential GET costs about 118 µs, an MGET of 100 keys about
2 µs a key, so sharing the round trip is what makes a fresh status check affordable.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from redis.crc import key_slot
from redis.exceptions import NoScriptError

from gateway.core.model import IssuerCode, Status
from gateway.core.trust import RegistryStamp
from gateway.errors import Unavailable
from gateway.store import keys
from gateway.store.connection import RedisClient
from gateway.store.failures import redis_errors
from gateway.store.invalidation import Knowledge
from gateway.store.registry import stamp_from
from gateway.store.scripts import CACHE_PUT, RATE_TAKE
from gateway.store.status import decode_status

CACHE_PUT_MAX_KEYS = 512  # per script call: a long queue of writes goes in several
VALID_OUTCOME = b"\x01"  # a cached outcome; older hubs also wrote b"\x00" for invalid ones

# One verification's question: the subject's status, and the signature outcome of the envelope
# with this SHA-256 digest, or None when the worker knows the outcome already.
Item = tuple[IssuerCode, bytes, bytes | None]


@dataclass(frozen=True, slots=True)
class RateCharge:
    """Take ``need`` tokens, and up to ``want``, from a client's bucket (burst ``2 × rate``)."""

    client_id: str
    rate: float
    need: int
    want: int


@dataclass(frozen=True, slots=True)
class Fetched:
    registry: RegistryStamp
    values: list[bytes | None]
    granted: int = 0  # tokens granted to this request's charge; 0 when refused or none asked
    retry_after: int = 0


class Facts(NamedTuple):  # one per request: a tuple is built in C (docs/decisions.md)
    """Redis's answer to one :meth:`LookupCoalescer.read`, item by item."""

    registry: RegistryStamp
    statuses: list[Status | None]  # None: the hub holds no status for that subject
    outcomes: list[bool | None]  # None: not cached, or not asked (the item's digest was None)
    granted: int = 0
    retry_after: int = 0
    from_memory: bool = False  # answered under a live lease, with no round trip


@dataclass(slots=True)
class _Pending:
    keys: Sequence[bytes]
    charge: RateCharge | None
    done: asyncio.Future[Fetched] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class LookupCoalescer:
    def __init__(
        self,
        redis: RedisClient,
        *,
        deadline: float,
        cluster: bool = False,
        max_pipelines: int = 8,
        knowledge: Knowledge | None = None,
    ) -> None:
        self._redis = redis
        self._knowledge = knowledge  # leases: what may be answered from memory
        self.answered_from_memory = 0
        self._cluster = cluster
        self._deadline = deadline
        self._rate_sha = _sha1(RATE_TAKE)
        self._put_sha = _sha1(CACHE_PUT)
        self._queue: list[_Pending] = []
        self._writes: list[tuple[bytes, bytes, int]] = []
        self._scheduled = False
        self._slots = asyncio.Semaphore(max_pipelines)
        self._tasks: set[asyncio.Task[None]] = set()
        self.pipelines_sent = 0  # for the benchmark's keys-per-round-trip figure
        self.reads_sent = 0

    async def read(self, items: Sequence[Item], charge: RateCharge | None = None) -> Facts:
        """The registry stamp and, per item, its subject's status and its envelope's cached
        signature outcome, in one shared round trip that also takes ``charge``; with a live
        lease and everything known, from memory (gateway/store/invalidation.py)."""
        knowledge = self._knowledge
        generation = 0
        if knowledge is not None:
            if charge is None:
                known = knowledge.statuses(items)
                if known is not None and knowledge.stamp is not None:
                    self.answered_from_memory += 1
                    return Facts(knowledge.stamp, known, [None] * len(items), from_memory=True)
            generation = knowledge.generation  # taken before the read is sent
        status_key = keys.status
        outcome_key = keys.signature_outcome
        wanted: list[bytes] = []
        for iss, sub, digest in items:
            wanted.append(status_key(iss, sub))
            if digest is not None:
                wanted.append(outcome_key(digest))
        fetched = await self.fetch(wanted, charge)
        values = iter(fetched.values)
        statuses: list[Status | None] = []
        outcomes: list[bool | None] = []
        for _, _, digest in items:
            packed = next(values)
            statuses.append(None if packed is None else decode_status(packed))
            if digest is None:
                outcomes.append(None)
            else:
                cached = next(values)
                outcomes.append(None if cached is None else cached == VALID_OUTCOME)
        if knowledge is not None:
            knowledge.learn(generation, items, statuses, fetched.registry)
        return Facts(fetched.registry, statuses, outcomes, fetched.granted, fetched.retry_after)

    def remember_valid(self, outcomes: Sequence[tuple[bytes, int]]) -> None:
        """Cache that the envelopes with these digests carry valid signatures, each for its
        ttl in seconds (its code's remaining life), with the next pipeline: a lost write costs
        a later miss. One call per request, so a batch's writes travel together."""
        outcome_key = keys.signature_outcome
        self._writes.extend((outcome_key(d), VALID_OUTCOME, ttl) for d, ttl in outcomes)
        self._schedule()

    async def fetch(self, keys_: Sequence[bytes], charge: RateCharge | None = None) -> Fetched:
        """Raw values of ``keys_`` (and the stamp) in the next round trip."""
        pending = _Pending(keys_, charge)
        self._queue.append(pending)
        self._schedule()
        return await pending.done

    def remember(self, key: bytes, value: bytes, ttl: int) -> None:
        """Write a cache entry with the next pipeline; a lost write only costs a later miss."""
        self._writes.append((key, value, ttl))
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            task = asyncio.get_running_loop().create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def charge(self, charge: RateCharge) -> Fetched:
        return await self.fetch((), charge)

    async def _flush(self) -> None:
        async with self._slots:
            self._scheduled = False
            batch, self._queue = self._queue, []
            writes, self._writes = self._writes, []
            try:
                # redis_errors outermost: it must also see the TimeoutError of the deadline.
                async with redis_errors("looking up statuses"), asyncio.timeout(self._deadline):
                    results = await self._send(batch, writes)
            except BaseException as exc:  # every waiter gets an answer, whatever happened
                failure = (
                    exc
                    if isinstance(exc, Unavailable)
                    else Unavailable(f"the status lookup failed ({type(exc).__name__})")
                )
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(failure)
                if not isinstance(exc, Exception):
                    raise  # cancellation (shutdown) goes on
                return
            for pending, result in zip(batch, results, strict=True):
                if not pending.done.done():
                    pending.done.set_result(result)

    async def _send(
        self, batch: list[_Pending], writes: list[tuple[bytes, bytes, int]]
    ) -> list[Fetched]:
        try:
            return await self._send_once(batch, writes)
        except NoScriptError:  # a restarted Redis has forgotten the scripts: load them, once
            await self._redis.script_load(RATE_TAKE)
            await self._redis.script_load(CACHE_PUT)
            return await self._send_once(batch, writes)

    async def _send_once(
        self, batch: list[_Pending], writes: list[tuple[bytes, bytes, int]]
    ) -> list[Fetched]:
        # EVALSHA straight into the pipeline: redis-py's Script objects would add a
        # SCRIPT EXISTS round trip to every pipeline.
        # (execute_command: redis-py's cluster pipeline refuses its own evalsha and mget helpers.)
        pipe = self._redis.pipeline(transaction=False)
        for c in (p.charge for p in batch if p.charge is not None):
            pipe.execute_command(
                "EVALSHA", self._rate_sha, 1, keys.rate_bucket(c.client_id),
                c.rate, 2 * c.rate, c.need, c.want,
            )  # fmt: skip
        puts = self._by_slot([key for key, _, _ in writes], CACHE_PUT_MAX_KEYS)
        for group in puts:
            args: list[bytes | int] = []
            for i in group:
                args += (writes[i][1], writes[i][2])
            pipe.execute_command(
                "EVALSHA", self._put_sha, len(group), *(writes[i][0] for i in group), *args
            )
        wanted = [keys.REGISTRY_VERSION.encode(), keys.REGISTRY_TOKEN.encode()]
        for pending in batch:
            wanted.extend(pending.keys)
        groups = self._by_slot(wanted)
        for group in groups:
            pipe.execute_command("MGET", *(wanted[i] for i in group))
        replies = await pipe.execute()
        self.pipelines_sent += 1
        self.reads_sent += len(wanted)
        values: list[bytes | None] = [None] * len(wanted)
        for group, reply in zip(groups, replies[len(replies) - len(groups) :], strict=True):
            for i, value in zip(group, reply, strict=True):
                values[i] = value
        registry = stamp_from(values[0], values[1])
        rate_replies = iter(replies[: len(replies) - len(groups) - len(puts)])
        out, at = [], 2
        for pending in batch:
            granted, wait = next(rate_replies) if pending.charge is not None else (0, 0)
            out.append(
                Fetched(registry, values[at : at + len(pending.keys)], int(granted), int(wait))
            )
            at += len(pending.keys)
        return out

    def _by_slot(self, wanted: list[bytes], most: int = 0) -> list[list[int]]:
        """Indexes of ``wanted`` per command: one command on a single Redis, one per slot on a
        cluster (the cluster pipeline then sends each node its commands in one round trip);
        groups of at most ``most`` keys when ``most`` is set."""
        if not wanted:
            return []
        if not self._cluster:
            groups = [list(range(len(wanted)))]
        else:
            by_slot: dict[int, list[int]] = {}
            for i, key in enumerate(wanted):
                by_slot.setdefault(key_slot(key), []).append(i)
            groups = list(by_slot.values())
        if most:
            groups = [g[at : at + most] for g in groups for at in range(0, len(g), most)]
        return groups

    async def settled(self) -> None:
        """Wait until every pipeline scheduled so far has gone out and been answered (the
        cache writes of ``remember_valid`` with them)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
