"""A ratio of the bench: the median of per-round ratios, its range, and whether it can be trusted.

Each round gives one ratio whose numerator and denominator were measured seconds apart: a
gateway figure over the limit at that moment (``against``), or one subject over another in
the same block (``paired``: 2 workers over 1, a revision over the working tree). The figure
is the median of those ratios, shown with their range, over the rounds others did not disturb
(``limits.disturbed``: busy before, or others' CPU during) when at least half are clean. It
is *marked* when those rounds disagree by more than ``Bounds.max_spread`` (``(high - low) /
median``), or when the limits moved by more than ``Bounds.max_drift`` between the slots around
one of them (the machine's speed changed under it): a marked figure is shown but not counted
as met or missed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from load_tests.bench.document import RatioRecord
from load_tests.bench.limits import LimitKind, Limits, disturbed
from load_tests.bench.samples import Sample


@dataclass(frozen=True, slots=True)
class Bounds:
    max_spread: float = 0.20
    max_drift: float = 0.20


@dataclass(frozen=True, slots=True)
class Ratio:
    """Per-round ratios, how far the limits moved around each, and which rounds others
    disturbed. The figure is read from the clean rounds when at least half are clean (a round
    a neighbour disturbed is known to be off), else from every round, and then it is
    ``disturbed``."""

    per_round: tuple[float, ...]
    drifts: tuple[float, ...] = ()  # per round: how far the limits moved around it
    disturbed_rounds: tuple[bool, ...] = ()  # per round: others' work may have moved it

    @property
    def used(self) -> tuple[int, ...]:
        """The rounds the figure is read from."""
        flags = self.disturbed_rounds or (False,) * len(self.per_round)
        clean = tuple(i for i, d in enumerate(flags) if not d)
        return clean if 2 * len(clean) >= len(flags) else tuple(range(len(flags)))

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(self.per_round[i] for i in self.used)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def spread(self) -> float:
        return (self.high - self.low) / self.median if self.median else 0.0

    @property
    def drift(self) -> float:
        """The largest move of the limits around one of the rounds it is read from."""
        return max((self.drifts[i] for i in self.used), default=0.0) if self.drifts else 0.0

    @property
    def disturbed(self) -> bool:
        """Read from rounds others disturbed: fewer than half were clean."""
        return any(self.disturbed_rounds[i] for i in self.used) if self.disturbed_rounds else False

    def marks(self, bounds: Bounds) -> tuple[str, ...]:
        """Why the figure cannot be trusted; empty when it can."""
        out = []
        if self.spread > bounds.max_spread:
            out.append(f"rounds spread {self.spread:.1%} > {bounds.max_spread:.0%}")
        if self.drift > bounds.max_drift:
            out.append(f"limits moved {self.drift:.1%} > {bounds.max_drift:.0%}")
        return tuple(out)

    def trusted(self, bounds: Bounds) -> bool:
        return not self.marks(bounds)

    def divided(self, by: float) -> Ratio:
        """The same figure over ``by`` (a latency over its bound), its marks unchanged."""
        return replace(self, per_round=tuple(x / by for x in self.per_round))


MIN_BEYOND = 10  # latencies a pooled percentile needs above it to be read at all


@dataclass(frozen=True, slots=True)
class Pooled(Ratio):
    """A latency percentile read from every latency of the rounds it is read from at once
    (their histograms merged: ``latency.pooled``). Its figure, ``median`` by ``Ratio``'s name,
    is that percentile; its range and spread are still the rounds' own values, shown.

    A tail is what one round cannot pin down: a 15 ms pause falls in a 3-s round or it does
    not, so one round's p99 reads 10 ms and the next 16, and the median of five such p99s
    moved 12–31 % between two runs back to back. All the rounds' latencies together count
    each pause once, in proportion to the time it took. So the rounds' spread does not mark a
    pooled percentile; too few latencies do (fewer than ``MIN_BEYOND`` beyond it: 1,000 for a
    p99), and so does a move of the limits around one of its rounds, as for every figure."""

    quantile: float = 0.5  # 0.99 for a p99
    pooled: float = 0.0  # the percentile of every latency of the rounds used, µs
    count: int = 0  # how many latencies those rounds timed

    @property
    def median(self) -> float:
        return self.pooled

    @property
    def needed(self) -> int:
        """Latencies the percentile needs to have ``MIN_BEYOND`` of them above it."""
        return math.ceil(round(MIN_BEYOND / (1 - self.quantile), 6))

    def divided(self, by: float) -> Pooled:
        return replace(self, per_round=tuple(x / by for x in self.per_round),
                       pooled=self.pooled / by)  # fmt: skip

    def marks(self, bounds: Bounds) -> tuple[str, ...]:
        out = []
        if self.count < self.needed:
            out.append(f"{self.count:,} latencies < {self.needed:,} for this percentile")
        if self.drift > bounds.max_drift:
            out.append(f"limits moved {self.drift:.1%} > {bounds.max_drift:.0%}")
        return tuple(out)


def value(sample: Sample, *, codes: bool) -> float:
    return sample.codes_rate if codes else sample.ok_rate


def against(samples: Sequence[Sample], limits: Limits, kind: LimitKind, *, codes: bool) -> Ratio:
    """Each round's figure over ``kind``'s limit at the time of that round's measurement."""
    if not samples:
        raise ValueError("no samples")
    return Ratio(
        per_round=tuple(value(s, codes=codes) / limits.at(s.mid, kind) for s in samples),
        drifts=tuple(limits.drift_at(s.mid) for s in samples),
        disturbed_rounds=tuple(_disturbed(s, limits) for s in samples),
    )


def paired(top: Sequence[Sample], bottom: Sequence[Sample], limits: Limits) -> Ratio | None:
    """Codes/s of ``top`` over ``bottom``, round by round (rounds where both were measured)."""
    below = {s.round: s for s in bottom}
    pairs = [(a, below[a.round]) for a in top if a.round in below and below[a.round].codes_rate]
    if not pairs:
        return None
    return Ratio(
        per_round=tuple(a.codes_rate / b.codes_rate for a, b in pairs),
        drifts=tuple(max(limits.drift_at(a.mid), limits.drift_at(b.mid)) for a, b in pairs),
        disturbed_rounds=tuple(_disturbed(a, limits) or _disturbed(b, limits) for a, b in pairs),
    )


def _disturbed(sample: Sample, limits: Limits) -> bool:
    return disturbed(sample.busy_before, sample.others_during) or limits.disturbed_at(sample.mid)


def ratio_json(ratio: Ratio, bounds: Bounds) -> RatioRecord:
    out: RatioRecord = {
        "median": ratio.median, "low": ratio.low, "high": ratio.high, "spread": ratio.spread,
        "drift": ratio.drift, "per_round": list(ratio.per_round), "used": list(ratio.used),
        "drifts": list(ratio.drifts), "disturbed_rounds": list(ratio.disturbed_rounds),
        "disturbed": ratio.disturbed, "marks": list(ratio.marks(bounds)),
    }  # fmt: skip
    if isinstance(ratio, Pooled):
        out["pooled"] = ratio.count
    return out
