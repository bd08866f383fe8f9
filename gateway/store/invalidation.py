"""Leases with invalidation (Gray & Cheriton, SOSP 1989): what a worker may answer from memory.

On by default (``lease_invalidation``, docs/configuration.md; off: every verification reads
Redis, as before issue 11).

A worker that holds a live lease may answer a verification without a round trip when it already
knows the registry stamp and the status (or "no status") of every subject asked about. Every
registry or status write appends an entry to one Redis Stream *in the same script as the write*,
and is acknowledged only once every worker whose lease is live has confirmed that entry, or its
lease has run out (:class:`Announcer`). Leases and expiries are judged by Redis's clock inside
scripts; a worker counts its own lease from when it *sent* the renewal, less a margin
(:class:`LeaseKeeper`), so no clock is shared. The safety argument is docs/caching.md,
"Leases with invalidation".

On a Redis Cluster a write and its entry can share a script only within one slot, so each hash
tag the writes use (``{reg}``, each issuer's) is a :class:`Domain` of its own: its stream, its
leases, its confirmations and its epoch beside the writes, judged by that node's clock; a
worker holds a lease in each. Renewals there count only once a replica holds them (WAIT), and
a node that did not judge a domain's leases before (a promoted replica) drops them and fences
writes for one lease (docs/caching.md, "Leases on a Redis Cluster").
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from gateway.core.model import Colour, IssuerCode, Status
from gateway.core.trust import RegistryStamp
from gateway.errors import Unavailable
from gateway.store import keys
from gateway.store.connection import RedisClient
from gateway.store.failures import keep_cancelled, redis_errors

log = logging.getLogger("hcgw")

LEASE_MS = 1000  # a lease's life, in Redis's clock
MARGIN = 0.2  # seconds a worker stops trusting its lease before Redis would let it lapse
RENEW_EVERY = 0.25  # seconds between renewals
READ_BLOCK_MS = 100  # XREAD BLOCK: below the client's 0.25 s socket timeout
CONFIRM_WAIT = 2 * LEASE_MS / 1000 + 0.5  # a write waits at most this long for confirmations
KNOWN_MAX = 200_000  # subjects a worker remembers; past that it forgets them all and relearns
WAIT_MS = 200  # on a cluster: how long a renewal waits for its replica
REGISTRY_WAIT_MS = 500  # and a registry write, as without leases (registry.WAIT_MS)

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

# K[1], [2], [4], [5] (a domain's keys): leases, confirmed, epoch, node. On a cluster (fencing
# '1'), a node other than the one that judged these leases so far (a promoted replica, a
# restart) cannot know which leases a worker still trusts: it drops them all with the epoch,
# and fences writes for one lease of its own clock, by when every lease granted elsewhere has
# run out.
_FENCE = """
local fence = 0
if fencing then
  local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
  if redis.call('HGET', K[5], 'run') ~= run then
    redis.call('DEL', K[1], K[2], K[4])
    redis.call('HSET', K[5], 'run', run, 'fence', now + lease_ms)
  end
  fence = tonumber(redis.call('HGET', K[5], 'fence'))
end
"""

# KEYS: leases, confirmed, stream, epoch, node. ARGV: worker, lease ms, a new epoch if none is
# set, fencing ('1' on a cluster).
# → {epoch, lapsed (1: the lease had run out or never was: forget, start at last), last id}.
_RENEW = (
    _BEFORE
    + """
local K = KEYS
local lease_ms, fencing = tonumber(ARGV[2]), ARGV[4] == '1'
"""
    + _FENCE
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
redis.call('HSET', KEYS[1], ARGV[1], now + lease_ms)
return {epoch, lapsed, last_id}
"""
)

# K: a domain's keys (leases, confirmed, stream, epoch, node). A: entry id, the writer's own
# worker (it applied its own entry already; '' for none), lease ms, fencing. → how many other
# live leases have not confirmed it (1 while fenced). Leases that ran out are removed, and so
# are the entries every live lease has confirmed (XTRIM MINID): the stream holds only what a
# live worker may still have to read, and nothing a live worker has not read is ever trimmed.
_PENDING_OF = (
    """
local function pending_of(K, A)
"""
    + _BEFORE
    + """
local lease_ms, fencing = tonumber(A[3]), A[4] == '1'
"""
    + _FENCE
    + """
if now < fence then return 1 end
local pending = 0
local floor = A[1]
local leases = redis.call('HGETALL', K[1])
for i = 1, #leases, 2 do
  local worker, expiry = leases[i], tonumber(leases[i + 1])
  if expiry <= now then
    redis.call('HDEL', K[1], worker)
    redis.call('HDEL', K[2], worker)
  else
    local seen = redis.call('HGET', K[2], worker) or '0-0'
    if worker ~= A[2] and before(seen, A[1]) then pending = pending + 1 end
    if before(seen, floor) then floor = seen end
  end
end
redis.call('XTRIM', K[3], 'MINID', floor)
return pending
end
"""
)
_PENDING = _PENDING_OF + "return pending_of(KEYS, ARGV)"  # KEYS, ARGV: K and A above


# A write script with its invalidation, so no write exists without its entry: the script's
# body runs as a function, then the entry is appended; one script is atomic, and replicated and
# written to the append-only file as one unit. Then, in the same script, how many live leases
# have yet to confirm it: with no other lease holder, the write is acknowledged with no second
# round trip. The domain's five keys come last; the arguments end with the entry's fields,
# their count, then the writer's worker, the lease ms and fencing (all taken off before the
# body sees KEYS and ARGV). The write's own script replaces the BODY line.
# → {the script's reply, the entry's id, pending as above}.
_ANNOUNCED = (
    _PENDING_OF
    + """
local domain = {}
for i = 5, 1, -1 do domain[i] = table.remove(KEYS) end
local fencing = table.remove(ARGV)
local lease_ms = table.remove(ARGV)
local own = table.remove(ARGV)
local count = tonumber(table.remove(ARGV))
local fields = {}
for i = 1, count * 2 do table.insert(fields, 1, table.remove(ARGV)) end
local function write()
-- BODY
end
local result = write()
if result == nil then result = false end
local id = redis.call('XADD', domain[3], '*', unpack(fields))
return {result, id, pending_of(domain, {id, own, lease_ms, fencing})}
"""
)


@dataclass(frozen=True, slots=True)
class Domain:
    """One stream and what follows it, in one slot: the leases, the confirmations, the epoch
    and the node hash (which node judged the leases, and its fence)."""

    name: str
    stream: str
    leases: str
    confirmed: str
    epoch: str
    node: str

    @property
    def keys(self) -> list[str]:
        return [self.leases, self.confirmed, self.stream, self.epoch, self.node]


ONE_REDIS = Domain(
    "inv", keys.INVALIDATIONS, keys.LEASES, keys.CONFIRMED, keys.LEASE_EPOCH, keys.LEASE_NODE
)


class Domains:
    """Which domain a write announces itself in and a fact is leased by: on one Redis, one for
    all; on a cluster, ``{reg}`` for the registry and one per enrolled issuer."""

    def __init__(self, issuers: Iterable[str], *, cluster: bool) -> None:
        self.cluster = cluster
        self._issuers: dict[str, Domain] = {}
        if cluster:
            self.registry = Domain("reg", *keys.lease_domain("reg"))
            self._issuers = {iss: Domain(iss, *keys.lease_domain(iss)) for iss in issuers}
        else:
            self.registry = ONE_REDIS
        self.all: tuple[Domain, ...] = (self.registry, *self._issuers.values())

    def of(self, iss: str) -> Domain | None:
        """The domain of ``iss``'s statuses; None for an issuer not enrolled at start (its
        subjects are then never answered from memory)."""
        return self._issuers.get(iss) if self.cluster else self.registry

    def lease_names(self) -> dict[str, str] | None:
        """Each enrolled issuer's domain name on a cluster; None on one Redis."""
        return {iss: d.name for iss, d in self._issuers.items()} if self.cluster else None

    def issuers_of(self, domain: Domain) -> list[str] | None:
        """The issuers whose statuses ``domain`` leases; None for all of them."""
        if not self.cluster:
            return None
        return [domain.name] if domain.name in self._issuers else []


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
    """What this worker knows without asking Redis, while its leases let it say so.

    ``generation`` moves with every invalidation applied and every time something is
    forgotten: a read's answer is remembered only if no invalidation came between the moment
    it was queued and its reply, so an old value read before a write cannot outlive that
    write's invalidation. A fact counts only while the lease of its domain holds (the registry
    stamp: the registry's; a subject's status: its issuer's).
    """

    def __init__(self, clock: Callable[[], float], domains: Domains | None = None) -> None:
        self._clock = clock
        self._domains = domains or Domains((), cluster=False)
        self.valid_until = dict.fromkeys((d.name for d in self._domains.all), 0.0)
        self._registry = self._domains.registry.name
        self._lease_of = self._domains.lease_names()
        self.generation = 0
        self.stamp: RegistryStamp | None = None
        self._statuses: dict[str, dict[bytes, tuple[int, int] | None]] = {}

    def usable(self, domain: Domain | None = None) -> bool:
        """Whether ``domain``'s lease holds (every domain's, for None)."""
        now = self._clock()
        if domain is not None:
            return now < self.valid_until[domain.name]
        return all(now < until for until in self.valid_until.values())

    def distrust(self) -> None:
        for name in self.valid_until:
            self.valid_until[name] = 0.0

    def __len__(self) -> int:
        return sum(map(len, self._statuses.values()))

    def statuses(
        self, items: Sequence[tuple[IssuerCode, bytes, bytes | None]]
    ) -> list[Status | None] | None:
        """Every item's status from memory, or None when one is not known (or an outcome is
        asked for, or a lease does not hold)."""
        now = self._clock()
        valid = self.valid_until
        if self.stamp is None or now >= valid[self._registry]:
            return None
        lease_of = self._lease_of  # None on one Redis: the one lease is every fact's
        statuses = self._statuses
        out: list[Status | None] = []
        for iss, sub, digest in items:
            if digest is not None:
                return None
            known = statuses.get(iss)
            if known is None or sub not in known:
                return None
            if lease_of is not None and now >= valid[lease_of[iss]]:
                return None  # (an issuer is only known once its domain is: see learn)
            held = known[sub]
            out.append(None if held is None else Status(_COLOURS[held[0]], held[1]))
        return out

    def learn(
        self,
        generation: int,
        items: Sequence[tuple[IssuerCode, bytes, bytes | None]],
        statuses: Sequence[Status | None],
        stamp: RegistryStamp,
    ) -> None:
        now = self._clock()
        if generation != self.generation or now >= self.valid_until[self._registry]:
            return  # an invalidation came meanwhile, or the lease does not hold: not a fact
        for iss, _, _ in items:
            domain = self._domains.of(iss)
            if domain is None or now >= self.valid_until[domain.name]:
                return
        if len(self) + len(items) > KNOWN_MAX:
            self._statuses.clear()
        for (iss, sub, _), status in zip(items, statuses, strict=True):
            self._statuses.setdefault(iss, {})[sub] = (
                None if status is None else (int(status.colour), status.sv)
            )
        self.stamp = stamp

    def forget(self, domain: Domain | None = None) -> None:
        """Forget what ``domain`` leases (everything, for None)."""
        self.generation += 1
        issuers = None if domain is None else self._domains.issuers_of(domain)
        if domain is None or domain.name == self._registry:
            self.stamp = None
        if issuers is None:
            self._statuses.clear()
        for iss in issuers or ():
            self._statuses.pop(iss, None)

    def apply(self, fields: dict[bytes, bytes]) -> None:
        self.generation += 1
        if _REGISTRY in fields:
            self.stamp = None
        iss = fields.get(_ISSUER)
        subjects = fields.get(_SUBJECTS, b"")
        if iss is not None:
            known = self._statuses.get(iss.decode())
            if known is not None:
                for at in range(0, len(subjects), 16):
                    known.pop(subjects[at : at + 16], None)


class LeaseKeeper:
    """A worker's leases, one per domain (renewed every :data:`RENEW_EVERY`, in one round trip
    per node), and a reader of each domain's stream."""

    def __init__(
        self,
        redis: RedisClient,
        knowledge: Knowledge,
        clock: Callable[[], float],
        domains: Domains | None = None,
    ) -> None:
        self._redis = redis
        self.knowledge = knowledge
        self._clock = clock
        self._domains = domains or Domains((), cluster=False)
        self._cluster = isinstance(redis, RedisCluster)
        self.worker = secrets.token_hex(8)
        self._renew = redis.register_script(_RENEW)
        names = [d.name for d in self._domains.all]
        self._epoch: dict[str, bytes | None] = dict.fromkeys(names)
        self._position = dict.fromkeys(names, b"$")
        self._read_ok = dict.fromkeys(names, -1e9)  # when each reader last heard from Redis
        self.lapses = 0
        self._stopped = False

    async def run(self) -> None:
        await self._load_renew()  # once, so the first renewals find it
        keep_cancelled()
        loops = [
            asyncio.ensure_future(loop)
            for loop in (self._renewing(), *map(self._reading, self._domains.all))
        ]
        try:
            await asyncio.wait(loops)  # a cancellation ends this wait, whatever the loops do
        finally:
            # A loop whose cancellation a redis-py call lost after it was asked (a cancel that
            # races asyncio.timeout's deadline is undone, and keep_cancelled cannot see it)
            # also ends on this flag, at its next turn.
            self._stopped = True
            for loop in loops:
                loop.cancel()
            await asyncio.wait(loops, timeout=2 * RENEW_EVERY)

    async def release(self) -> None:
        """At shutdown: stop answering from memory, then give the leases back, so writers do
        not wait for a worker that is gone (best effort: else they run out within a second)."""
        self.knowledge.distrust()
        try:
            pipe: Any = self._redis.pipeline(transaction=False)
            for domain in self._domains.all:
                pipe.hdel(domain.leases, self.worker)
            await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - the lease then runs out by itself
            log.debug("lease release failed: %s", exc)

    async def _renewing(self) -> None:
        while not self._stopped:
            now = self._clock()
            due = [d for d in self._domains.all if now - self._read_ok[d.name] < LEASE_MS / 2000]
            if due:  # only the domains whose reader reads
                await self._renew_once(due)
            await asyncio.sleep(RENEW_EVERY)

    async def _renew_once(self, due: list[Domain]) -> None:
        sent = self._clock()
        fencing = b"1" if self._domains.cluster else b"0"
        args = [self.worker, LEASE_MS, secrets.token_hex(8), fencing]
        nodes: dict[str, Any] = {}
        try:
            pipe: Any = self._redis.pipeline(transaction=False)
            for domain in due:
                if self._cluster:  # the renewal and its WAIT on one node, one connection
                    node = self._node(domain)
                    nodes[domain.name] = node
                    pipe.execute_command(
                        "EVALSHA", self._renew.sha, 5, *domain.keys, *args, target_nodes=node
                    )
                else:
                    pipe.execute_command("EVALSHA", self._renew.sha, 5, *domain.keys, *args)
            targets = {node.name: node for node in nodes.values()}
            for node in targets.values():
                pipe.execute_command("WAIT", 1, WAIT_MS, target_nodes=node)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # noqa: BLE001 - any failure: the leases just run out
            keep_cancelled()
            log.debug("lease renewal failed: %s", exc)
            return
        keep_cancelled()
        waited = dict(zip(targets, replies[len(due) :], strict=True))
        if any(isinstance(reply, NoScriptError) for reply in replies):
            await self._load_renew()  # a restarted or promoted node: renewed next time
        for domain, reply in zip(due, replies, strict=False):
            if isinstance(reply, Exception):
                log.debug("lease renewal failed in %s: %s", domain.name, reply)
                continue
            epoch, lapsed, last = reply
            if lapsed or epoch != self._epoch[domain.name]:
                # Writers may have gone on without us: forget, read from what is last.
                self.knowledge.forget(domain)
                self._epoch[domain.name], self._position[domain.name] = epoch, last
                self.lapses += 1
            if self._cluster and not self._replicated(domain, nodes[domain.name], waited):
                continue  # a renewal a failover could lose is not one to trust
            self.knowledge.valid_until[domain.name] = sent + LEASE_MS / 1000 - MARGIN

    def _node(self, domain: Domain) -> Any:
        cluster: Any = self._redis
        return cluster.get_node_from_key(domain.stream)

    def _replicated(self, domain: Domain, node: Any, waited: dict[str, Any]) -> bool:
        """The renewal ran where its WAIT did (the slot did not move meanwhile), and a
        replica holds it."""
        replicas = waited.get(node.name)
        return isinstance(replicas, int) and replicas >= 1 and self._node(domain).name == node.name

    async def _load_renew(self) -> None:
        try:
            await self._redis.script_load(_RENEW)
        except Exception as exc:  # noqa: BLE001 - tried again with the next renewal
            keep_cancelled()
            log.debug("loading the renewal script failed: %s", exc)

    async def _reading(self, domain: Domain) -> None:
        confirm: bytes | None = None  # what this worker applied and has yet to confirm
        name = domain.name
        while not self._stopped:
            try:
                # The confirmation on its own, at once: a pipeline of it and the next read
                # would hold it back until redis-py had put the pipeline's connection back,
                # three turns of a busy worker's loop (asyncio.shield makes a task).
                if confirm is not None:
                    await self._redis.hset(domain.confirmed, self.worker, confirm)
                    confirm = None
                replies: Any
                if self._cluster:  # routed by hand: redis-py would ask a node for XREAD's keys
                    replies = await self._redis.execute_command(
                        "XREAD", "COUNT", 1000, "BLOCK", READ_BLOCK_MS, "STREAMS",
                        domain.stream, self._position[name], target_nodes=self._node(domain),
                    )  # fmt: skip
                else:
                    replies = await self._redis.xread({domain.stream: self._position[name]},
                                                      count=1000, block=READ_BLOCK_MS)  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - Redis away: no renewals follow either
                keep_cancelled()
                log.debug("invalidation read failed: %s", exc)
                await asyncio.sleep(0.05)
                continue
            keep_cancelled()
            self._read_ok[name] = self._clock()
            for entries in _entries(replies):
                for entry_id, fields in entries:
                    self.knowledge.apply(fields)
                    self._position[name] = confirm = entry_id


def _entries(replies: Any) -> Iterable[Any]:
    """XREAD's reply as redis-py gives it: a list of [stream, entries] (RESP2), or a dict of
    stream → entries (RESP3, or a raw command through the cluster client)."""
    if not replies:
        return ()
    if isinstance(replies, dict):
        return replies.values()
    return (entries for _, entries in replies)


class Announcer:
    """The write side: a write and its invalidation in one script, then the confirmations.

    The writing worker applies its own entry itself, at once, and does not wait for its own
    reader: what a write must wait for is that every live worker has applied *that* entry
    (each earlier entry has a writer of its own waiting for it). On a cluster the entry goes
    to the write's own domain, and a registry write waits for a replica before it counts."""

    def __init__(
        self, redis: RedisClient, own: LeaseKeeper | None = None, domains: Domains | None = None
    ) -> None:
        self._redis = redis
        self._own = own
        self.domains = domains or Domains((), cluster=False)
        self._pending = redis.register_script(_PENDING)
        self._announced: dict[str, Any] = {}  # a write script's sha → it with its XADD

    async def write(
        self, script: Any, keys_: Sequence[Any], args: Sequence[Any], fields: dict[bytes, bytes]
    ) -> Any:
        """Run ``script`` and append ``fields`` to its domain's stream atomically; → the
        script's reply once every live lease there has confirmed the entry (or run out)."""
        iss = fields.get(_ISSUER)
        domain = self.domains.registry if iss is None else self.domains.of(iss.decode())
        if domain is None:  # an issuer enrolled since start: no worker leases its statuses
            return await script(keys=keys_, args=args)
        announced = self._announced.get(script.sha)
        if announced is None:
            announced = self._redis.register_script(_ANNOUNCED.replace("-- BODY", script.script))
            self._announced[script.sha] = announced
        flat = [part for pair in fields.items() for part in pair]
        own = self._own.worker if self._own is not None else ""
        fencing = b"1" if self.domains.cluster else b"0"
        # One script: on a restarted Redis that forgot it, redis-py loads it and runs it again
        # (it did not run); a cluster runs it in the write's own slot.
        result, added, pending = await announced(
            keys=[*keys_, *domain.keys], args=[*args, *flat, len(fields), own, LEASE_MS, fencing]
        )
        if self._own is not None:  # no await since the write: nothing was answered meanwhile
            self._own.knowledge.apply(fields)
        if self.domains.cluster and iss is None:
            await self._replicated(domain)
        if pending:
            await self.confirmed(added, domain)
        return result

    async def _replicated(self, domain: Domain) -> None:
        """A registry write counts on a cluster only once a replica holds it (docs/scale.md).
        WAIT covers what its own connection wrote, and the write's connection is redis-py's:
        a write of our own on one connection of that node, after the write returned, then
        WAIT there, covers the write too."""
        cluster: Any = self._redis
        async with redis_errors("waiting for a replica"):
            node = cluster.get_node_from_key(domain.node)
            pipe: Any = cluster.pipeline(transaction=False)
            pipe.execute_command("HINCRBY", domain.node, "writes", 1, target_nodes=node)
            pipe.execute_command("WAIT", 1, REGISTRY_WAIT_MS, target_nodes=node)
            _, replicas = await pipe.execute()
        if int(replicas) < 1 or cluster.get_node_from_key(domain.node).name != node.name:
            raise Unavailable(
                "the registry write reached no replica in time; it is not acknowledged: send "
                "the message again"
            )

    async def confirmed(self, entry: bytes, domain: Domain = ONE_REDIS) -> None:
        deadline = time.perf_counter() + CONFIRM_WAIT
        fencing = b"1" if self.domains.cluster else b"0"
        async with redis_errors("waiting for the workers' confirmations"):
            polls = 0
            own = self._own.worker if self._own is not None else ""
            while await self._pending(keys=domain.keys, args=[entry, own, LEASE_MS, fencing]):
                if time.perf_counter() > deadline:
                    raise Unavailable(
                        "the write is stored but not every worker confirmed it in time; "
                        "it is not acknowledged: send the message again"
                    )
                polls += 1
                # at once for the first few (confirmations take a round trip or two: each poll
                # is one), then every millisecond while a stopped worker's lease (or a fence)
                # runs out
                if polls >= 20:
                    await asyncio.sleep(0.001)


def registry_entry() -> dict[bytes, bytes]:
    return {_REGISTRY: b"1"}


def status_entry(iss: str, subjects: Sequence[bytes]) -> dict[bytes, bytes]:
    return {_ISSUER: iss.encode(), _SUBJECTS: b"".join(subjects)}
