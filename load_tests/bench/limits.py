"""The limits at the moment of a measurement: interpolated between the limit slots around it.

A gateway measurement at time ``t`` lies between the limit slot that opened its block and the
one that opened the next. The limit it is divided by is the straight line between those two
readings at ``t``; how far the two readings differ is the *drift* during the measurement, the
part of the machine's change of speed that interpolation can only guess.

The limits (``LimitKind``): ``empty``, the empty aiohttp handler's requests/s under the same
wrk settings; ``raw``, the raw signature rate of the library call the gateway makes (libsodium
for Ed25519, OpenSSL for ES256, Tongsuo for SM2), mixed in the proportions of the corpus'
valid codes (each verification costs ``share / rate``); ``serial``, both one after the other,
``1 / (1/empty + 1/raw)``: what one code would cost with nothing else to do.
"""

from __future__ import annotations

import enum
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from load_tests.bench.samples import LimitSample

RAW_CALL = {"Ed25519": "Ed25519/libsodium", "ES256": "ES256/cryptography", "SM2": "SM2/tongsuo"}
QUIET = 0.15  # the machine's CPU use before a measurement above this: others were busy
OTHERS = 0.10  # others' share of all cores during a measurement above this: disturbed


def disturbed(busy_before: float, others_during: float) -> bool:
    """Whether others' work may have moved a measurement: the machine was busy before it (the
    wait ran out), or others took more than ``OTHERS`` of it while it ran."""
    return busy_before > QUIET or others_during > OTHERS


class LimitKind(enum.Enum):
    EMPTY = "empty"
    RAW = "raw"
    SERIAL = "serial"


@dataclass(frozen=True, slots=True)
class Limits:
    """A run's limit slots and the corpus' algorithm shares (for the raw mix)."""

    slots: tuple[LimitSample, ...]
    shares: Mapping[str, float]

    def value(self, slot: LimitSample, kind: LimitKind) -> float:
        if kind is LimitKind.EMPTY:
            return slot.empty
        raw = raw_mix(slot.raw, self.shares)
        if kind is LimitKind.RAW:
            return raw
        return 1 / (1 / slot.empty + 1 / raw)

    def bracket(self, t: float) -> tuple[LimitSample, ...]:
        """The limit slots just before and just after ``t`` (one at either end of the run)."""
        ordered = sorted(self.slots, key=lambda s: s.mid)
        before = [s for s in ordered if s.mid <= t]
        after = [s for s in ordered if s.mid >= t]
        around = ([before[-1]] if before else []) + ([after[0]] if after else [])
        if not around:
            raise ValueError("no limit slot in this run")
        if len(around) == 2 and around[0] is around[1]:
            return (around[0],)
        return tuple(around)

    def at(self, t: float, kind: LimitKind) -> float:
        """``kind``'s limit at ``t``, on the straight line between the slots around it."""
        around = self.bracket(t)
        if len(around) == 1:
            return self.value(around[0], kind)
        a, b = around
        va, vb = self.value(a, kind), self.value(b, kind)
        return va + (vb - va) * (t - a.mid) / (b.mid - a.mid)

    def drift_at(self, t: float) -> float:
        """How far the limits moved between the slots around ``t``: the larger, over the empty
        handler and the raw rate, of ``|after - before| / min(before, after)``."""
        around = self.bracket(t)
        if len(around) == 1:
            return 0.0
        a, b = around
        kinds = (LimitKind.EMPTY, LimitKind.RAW)
        return max(_change(self.value(a, k), self.value(b, k)) for k in kinds)

    def disturbed_at(self, t: float) -> bool:
        """Whether a slot around ``t`` was measured after the wait for a quiet machine ran out."""
        return any(disturbed(s.busy_before, s.others_during) for s in self.bracket(t))

    def summary(self, kind: LimitKind) -> LimitSummary:
        values = [self.value(s, kind) for s in self.slots]
        return LimitSummary(statistics.median(values), min(values), max(values), len(values))


@dataclass(frozen=True, slots=True)
class LimitSummary:
    """A limit over the whole run: its median, its range, and how many slots measured it."""

    median: float
    low: float
    high: float
    slots: int

    @property
    def drift(self) -> float:
        """The run's whole swing, ``high / low - 1``."""
        return self.high / self.low - 1 if self.low else 0.0


def raw_mix(rates: Mapping[str, float], shares: Mapping[str, float]) -> float:
    """Verifications/s of the corpus mix: ``1 / Σ share / rate`` over its algorithms."""
    return 1 / sum(float(share) / float(rates[RAW_CALL[alg]]) for alg, share in shares.items())


def _change(a: float, b: float) -> float:
    low = min(a, b)
    return abs(b - a) / low if low > 0 else 0.0

