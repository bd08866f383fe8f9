"""Leases with invalidation (Gray & Cheriton, SOSP 1989): what a worker may answer from memory.

EXPERIMENTAL, off by default (``lease_invalidation``, docs/configuration.md); one Redis only.

A worker that holds a live lease may answer a verification without a round trip when it already
knows the registry stamp and the status (or "no status") of every subject asked about. Every
registry or status write appends an entry to one Redis Stream *in the same MULTI as the write*,
and is acknowledged only once every worker whose lease is live has confirmed that entry, or its
lease has run out (:class:`Announcer`). Leases and expiries are judged by Redis's clock inside
scripts; a worker counts its own lease from when it *sent* the renewal, less a margin
(:class:`LeaseKeeper`), so no clock is shared. The safety argument is docs/caching.md,
"Leases with invalidation".
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import NoScriptError

from gateway.core.model import Colour, IssuerCode, Status
from gateway.core.trust import RegistryStamp
from gateway.errors import Unavailable
from gateway.store import keys
from gateway.store.connection import RedisClient
from gateway.store.failures import redis_errors

log = logging.getLogger("hcgw")

LEASE_MS = 1000  # a lease's life, in Redis's clock
MARGIN = 0.2  # seconds a worker stops trusting its lease before Redis would let it lapse
RENEW_EVERY = 0.25  # seconds between renewals
READ_BLOCK_MS = 100  # XREAD BLOCK: below the client's 0.25 s socket timeout
CONFIRM_WAIT = 2 * LEASE_MS / 1000 + 0.5  # a write waits at most this long for confirmations
KNOWN_MAX = 200_000  # subjects a worker remembers; past that it forgets them all and relearns

_BEFORE = """
local function before(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: leases, confirmed, stream, epoch. ARGV: worker, lease ms, a new epoch if none is set.
# → {epoch, lapsed (1: the lease had run out or never was: forget, start at last), last id}.
_RENEW = (
    _BEFORE
    + """
redis.call('SET', KEYS[4], ARGV[3], 'NX')
local epoch = redis.call('GET', KEYS[4])
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
local lapsed = 0
if held <= now then lapsed = 1 end
local seen = redis.call('HGET', KEYS[2], ARGV[1])
local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
if lapsed == 0 and seen and #first > 0 and before(seen, first[1][1]) then lapsed = 1 end
if lapsed == 1 then redis.call('HSET', KEYS[2], ARGV[1], last_id) end
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
return {epoch, lapsed, last_id}
"""
)

# KEYS: leases, confirmed, stream. ARGV: entry id, the writer's own worker (it applied its own
# entry already; '' for none). → how many other live leases have not confirmed it. Leases that
# ran out are removed, and so are the entries every live lease has confirmed (XTRIM MINID): the
# stream holds only what a live worker may still have to read, and nothing a live worker has
# not read is ever trimmed.
_PENDING = (
    _BEFORE
    + """
local pending = 0
local floor = ARGV[1]
local leases = redis.call('HGETALL', KEYS[1])
for i = 1, #leases, 2 do
  local worker, expiry = leases[i], tonumber(leases[i + 1])
  if expiry <= now then
    redis.call('HDEL', KEYS[1], worker)
    redis.call('HDEL', KEYS[2], worker)
  else
    local seen = redis.call('HGET', KEYS[2], worker) or '0-0'
    if worker ~= ARGV[2] and before(seen, ARGV[1]) then pending = pending + 1 end
    if before(seen, floor) then floor = seen end
  end
end
redis.call('XTRIM', KEYS[3], 'MINID', floor)
return pending
"""
)

def lease_clock() -> float:
    """Seconds that also run while the machine sleeps (CLOCK_BOOTTIME on Linux): a worker
    suspended with its host must not wake up believing its lease still holds."""
    return time.clock_gettime(_BOOTTIME)


_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
_REGISTRY = b"r"
_ISSUER = b"i"
_SUBJECTS = b"s"
_COLOURS = tuple(Colour)


class Knowledge:
    """What this worker knows without asking Redis, while its lease lets it say so.

    ``generation`` moves with every invalidation applied and every time everything is
    forgotten: a read's answer is remembered only if no invalidation came between the moment
    it was queued and its reply, so an old value read before a write cannot outlive that
    write's invalidation.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.valid_until = 0.0
        self.generation = 0
        self.stamp: RegistryStamp | None = None
        self._statuses: dict[tuple[str, bytes], tuple[int, int] | None] = {}

    def usable(self) -> bool:
        return self._clock() < self.valid_until

    def __len__(self) -> int:
        return len(self._statuses)

    def statuses(self, items: Sequence[tuple[IssuerCode, bytes, bytes | None]]) -> (
        list[Status | None] | None
    ):
        """Every item's status from memory, or None when one is not known (or an outcome is
        asked for, or the lease does not hold)."""
        if self.stamp is None or not self.usable():
            return None
        known = self._statuses
        out: list[Status | None] = []
        for iss, sub, digest in items:
            if digest is not None:
                return None
            key = (iss, sub)
            if key not in known:
                return None
            held = known[key]
            out.append(None if held is None else Status(_COLOURS[held[0]], held[1]))
        return out

    def learn(
        self,
        generation: int,
        items: Sequence[tuple[IssuerCode, bytes, bytes | None]],
        statuses: Sequence[Status | None],
        stamp: RegistryStamp,
    ) -> None:
        if generation != self.generation or not self.usable():
            return  # an invalidation came meanwhile, or the lease does not hold: not a fact
        if len(self._statuses) + len(items) > KNOWN_MAX:
            self._statuses.clear()
        for (iss, sub, _), status in zip(items, statuses, strict=True):
            self._statuses[(iss, sub)] = (
                None if status is None else (int(status.colour), status.sv)
            )
        self.stamp = stamp

    def forget(self) -> None:
        self.generation += 1
        self.stamp = None
        self._statuses.clear()

    def apply(self, fields: dict[bytes, bytes]) -> None:
        self.generation += 1
        if _REGISTRY in fields:
            self.stamp = None
        iss = fields.get(_ISSUER)
        subjects = fields.get(_SUBJECTS, b"")
        if iss is not None:
            name = iss.decode()
            for at in range(0, len(subjects), 16):
                self._statuses.pop((name, subjects[at : at + 16]), None)


class LeaseKeeper:
    """A worker's lease (renewed every :data:`RENEW_EVERY`) and its reader of the stream."""

    def __init__(self, redis: RedisClient, knowledge: Knowledge, clock: Callable[[], float]):
        self._redis = redis
        self.knowledge = knowledge
        self._clock = clock
        self.worker = secrets.token_hex(8)
        self._renew = redis.register_script(_RENEW)
        self._epoch: bytes | None = None
        self._position = b"$"
        self._read_ok = -1e9  # when the reader last heard from Redis
        self.lapses = 0

    async def run(self) -> None:
        await asyncio.gather(self._renewing(), self._reading())

    async def release(self) -> None:
        """At shutdown: stop answering from memory, then give the lease back, so writers do
        not wait for a worker that is gone (best effort: else it runs out within a second)."""
        self.knowledge.valid_until = 0.0
        try:
            await self._redis.hdel(keys.LEASES, self.worker)
        except Exception as exc:  # noqa: BLE001 - the lease then runs out by itself
            log.debug("lease release failed: %s", exc)

    async def _renewing(self) -> None:
        while True:
            if self._clock() - self._read_ok < LEASE_MS / 2000:  # only a reader that reads
                await self._renew_once()
            await asyncio.sleep(RENEW_EVERY)

    async def _renew_once(self) -> None:
        sent = self._clock()
        try:
            epoch, lapsed, last = await self._renew(
                keys=[keys.LEASES, keys.CONFIRMED, keys.INVALIDATIONS, keys.LEASE_EPOCH],
                args=[self.worker, LEASE_MS, secrets.token_hex(8)],
            )
        except Exception as exc:  # noqa: BLE001 - any failure: the lease just runs out
            log.debug("lease renewal failed: %s", exc)
            return
        if lapsed or epoch != self._epoch:
            # Writers may have gone on without us: forget everything, read from what is last.
            self.knowledge.forget()
            self._epoch, self._position = epoch, last
            self.lapses += 1
        self.knowledge.valid_until = sent + LEASE_MS / 1000 - MARGIN

    async def _reading(self) -> None:
        confirm: bytes | None = None  # what to confirm with the next read
        while True:
            try:
                # One round trip a cycle: the confirmation of what was applied, then the
                # blocking read of what follows it.
                pipe: Any = self._redis.pipeline(transaction=False)
                if confirm is not None:
                    pipe.hset(keys.CONFIRMED, self.worker, confirm)
                pipe.xread({keys.INVALIDATIONS: self._position}, count=1000, block=READ_BLOCK_MS)
                replies: Any = (await pipe.execute())[-1]
            except Exception as exc:  # noqa: BLE001 - Redis away: no renewals follow either
                log.debug("invalidation read failed: %s", exc)
                await asyncio.sleep(0.05)
                continue
            self._read_ok = self._clock()
            confirm = None
            for _, entries in replies or ():
                for entry_id, fields in entries:
                    self.knowledge.apply(fields)
                    self._position = confirm = entry_id


class Announcer:
    """The write side: a write and its invalidation in one MULTI, then the confirmations.

    The writing worker applies its own entry itself, at once, and does not wait for its own
    reader: what a write must wait for is that every live worker has applied *that* entry
    (each earlier entry has a writer of its own waiting for it)."""

    def __init__(self, redis: RedisClient, own: LeaseKeeper | None = None) -> None:
        self._redis = redis
        self._own = own
        self._pending = redis.register_script(_PENDING)
        self.waits: list[float] = []  # seconds each acknowledgement waited (the bench reads it)

    async def write(
        self, script: Any, keys_: Sequence[Any], args: Sequence[Any], fields: dict[bytes, bytes]
    ) -> Any:
        """Run ``script`` and append ``fields`` to the stream atomically; → the script's reply
        once every live lease has confirmed the entry (or run out)."""
        try:
            result, added = await self._write_once(script, keys_, args, fields)
        except NoScriptError:  # a restarted Redis forgot it: the script did not run; again
            await self._redis.script_load(script.script)
            result, added = await self._write_once(script, keys_, args, fields)
        if self._own is not None:  # no await since the write: nothing was answered meanwhile
            self._own.knowledge.apply(fields)
        await self.confirmed(added)
        return result

    async def _write_once(
        self, script: Any, keys_: Sequence[Any], args: Sequence[Any], fields: dict[bytes, bytes]
    ) -> Any:
        # EVALSHA straight: redis-py's pipeline.scripts would add a SCRIPT EXISTS round trip.
        pipe: Any = self._redis.pipeline(transaction=True)
        pipe.evalsha(script.sha, len(keys_), *keys_, *args)
        entry: Any = fields  # redis-py's hints want str-or-bytes keys of one union
        pipe.xadd(keys.INVALIDATIONS, entry)  # trimmed by _PENDING, never past a live reader
        return await pipe.execute()

    async def confirmed(self, entry: bytes) -> None:
        started = time.perf_counter()
        deadline = started + CONFIRM_WAIT
        async with redis_errors("waiting for the workers' confirmations"):
            pending_keys = [keys.LEASES, keys.CONFIRMED, keys.INVALIDATIONS]
            polls = 0
            own = self._own.worker if self._own is not None else ""
            while await self._pending(keys=pending_keys, args=[entry, own]):
                if time.perf_counter() > deadline:
                    raise Unavailable(
                        "the write is stored but not every worker confirmed it in time; "
                        "it is not acknowledged: send the message again"
                    )
                polls += 1
                # at once for the first few (confirmations take a round trip or two), then
                # every millisecond while a stopped worker's lease runs out
                await asyncio.sleep(0 if polls < 20 else 0.001)
        self.waits.append(time.perf_counter() - started)
        del self.waits[:-10_000]


def registry_entry() -> dict[bytes, bytes]:
    return {_REGISTRY: b"1"}


def status_entry(iss: str, subjects: Sequence[bytes]) -> dict[bytes, bytes]:
    return {_ISSUER: iss.encode(), _SUBJECTS: b"".join(subjects)}
