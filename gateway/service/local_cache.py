"""The per-process layer: envelope digest → decoded code and its signature's outcome.

Only what can never change is kept: a kid names one key for good (kid collisions are refused),
so whether these exact bytes were signed by it is a fact. Revocation, validity windows, expiry
and status are judged afresh on every use.

Each entry has a drop time: its code's ``exp``, but no later than ``HORIZON`` after it was
stored (a code that can still be valid expires within 86,700 s; a later ``exp`` is not yet
valid or forged) and, for an invalid signature, which anyone can make, no later than
``NEGATIVE_LIFE``. Entries are filed in buckets of ``GRAIN`` seconds of drop time, the buckets
in a heap. Every ``get`` and ``put`` drops up to ``SWEEP`` entries whose bucket has passed, so
with traffic an expired code leaves within ``GRAIN`` s of its drop time: bounded work per call,
no timer, and the buckets never outnumber ``HORIZON / GRAIN``. An expired entry is never
served, swept yet or not.

When the layer is full, an invalid signature goes first (the oldest), so a flood of forged
codes gives way before the codes an issuer signed; else the signed code used least recently.
(It used to be the entry due soonest, which is no measure of use: codes used again whose
``exp`` came early pushed each other out, docs/caching.md.) Both queues are ordered dicts,
whose ``move_to_end`` and ``popitem(last=False)`` are O(1) in C.

An entry is held as one plain tuple of strings, bytes, ints and None (the enums as their
values), which the cyclic GC stops tracking at its first pass: a full collection then skips the
layer's entries, where each decoded code used to be three tracked objects (about 0.9 µs of
every full collection per cached code, docs/caching.md "Collection pauses").
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from typing import NamedTuple

from gateway.core.model import Alg, Code, Colour, Envelope

GRAIN = 16  # seconds of drop time per bucket: how long an expired entry may linger
HORIZON = 86_400 + 300  # exp − iat ≤ 86,400 and iat ≤ now + 300 for a code that can be valid
NEGATIVE_LIFE = 60  # seconds an invalid signature is remembered
SWEEP = 4  # entries dropped per call at most; a put adds one, so the sweep keeps ahead


class Checked(NamedTuple):
    code: Code
    signature_valid: bool


_ALGS = {alg.value: alg for alg in Alg}
_COLOURS = tuple(Colour)
# Held: the envelope's fields (alg as its value), the claims (col as its value), the outcome,
# and the entry's bucket.
_Held = tuple[str, bytes, bytes, bytes, bytes, str, bytes, int, int, int, int, bytes,
              str | None, bool, int]  # fmt: skip


def _held(entry: Checked, bucket: int) -> _Held:
    c, e = entry.code, entry.code.envelope
    return (e.alg.value, e.kid, e.payload, e.signature, e.signed, c.iss, c.cid, c.exp, c.iat,
            int(c.col), c.sv, c.sub, c.nm, entry.signature_valid, bucket)  # fmt: skip


def _checked(h: _Held) -> Checked:
    # tuple.__new__ straight: NamedTuple's own __new__ and _make are Python calls, and this
    # runs for every hit (1.0 µs that way, 0.4 µs this way).
    envelope = _tuple(Envelope, (_ALGS[h[0]], h[1], h[2], h[3], h[4]))
    code = _tuple(Code, (envelope, h[5], h[6], h[7], h[8], _COLOURS[h[9]], h[10], h[11], h[12]))
    return _tuple(Checked, (code, h[13]))


_tuple = tuple.__new__


class LocalCache:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._signed: OrderedDict[bytes, _Held] = OrderedDict()  # least recently used first
        self._forged: OrderedDict[bytes, _Held] = OrderedDict()  # oldest first
        # Every entry's digest is in exactly one bucket, the one its tuple names, and every
        # bucket is in the heap once. A bucket emptied by the full layer waits for its turn.
        self._buckets: dict[int, set[bytes]] = {}
        self._due: list[int] = []  # heap of bucket numbers (drop time // GRAIN)

    def __len__(self) -> int:
        return len(self._signed) + len(self._forged)

    def get(self, digest: bytes, now: int) -> Checked | None:
        self._sweep(now)
        held = self._signed.get(digest)
        if held is not None:
            if now >= held[7]:  # exp
                return None  # expired and not swept yet: it leaves with its bucket
            self._signed.move_to_end(digest)
            return _checked(held)
        held = self._forged.get(digest)
        if held is None or now >= held[7]:
            return None
        return _checked(held)

    def put(self, digest: bytes, entry: Checked, now: int) -> None:
        if self._capacity <= 0 or digest in self._signed or digest in self._forged:
            return
        self._sweep(now)
        valid = entry.signature_valid
        drop = min(entry.code.exp, now + (HORIZON if valid else NEGATIVE_LIFE))
        if drop <= now:
            return
        if len(self) >= self._capacity:
            self._give_up()
        bucket = drop // GRAIN
        members = self._buckets.get(bucket)
        if members is None:
            members = self._buckets[bucket] = set()
            heapq.heappush(self._due, bucket)
        members.add(digest)
        (self._signed if valid else self._forged)[digest] = _held(entry, bucket)

    def clear(self) -> None:
        self._signed.clear()
        self._forged.clear()
        self._buckets.clear()
        self._due.clear()

    def _sweep(self, now: int) -> None:
        for _ in range(SWEEP):
            if not self._due or (self._due[0] + 1) * GRAIN > now:
                return  # nothing in the soonest bucket has reached its drop time yet
            bucket = self._due[0]
            members = self._buckets[bucket]
            if members:
                digest = members.pop()
                if self._signed.pop(digest, None) is None:
                    del self._forged[digest]
            if not members:
                heapq.heappop(self._due)
                del self._buckets[bucket]

    def _give_up(self) -> None:
        digest, held = (self._forged or self._signed).popitem(last=False)
        self._buckets[held[14]].discard(digest)
