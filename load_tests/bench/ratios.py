"""A ratio of the bench: the median of per-round ratios, its range, and whether it can be trusted.

Each round gives one ratio whose numerator and denominator were measured seconds apart: a
gateway figure over the limit at that moment (``against``), or one subject over another in
the same block (``paired``: 2 workers over 1, a revision over the working tree). The figure
is the median of those ratios, shown with their range. It is *marked* when the rounds disagree
by more than ``Bounds.max_spread`` (``(high - low) / median``), or when the limits moved by
more than ``Bounds.max_drift`` between the slots around any of its measurements (the
machine's speed changed under it): a marked figure is shown but not counted as met or missed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from load_tests.bench.limits import LimitKind, Limits, disturbed
from load_tests.bench.samples import Sample


@dataclass(frozen=True, slots=True)
class Bounds:
    max_spread: float = 0.20
    max_drift: float = 0.20


@dataclass(frozen=True, slots=True)
class Ratio:
    per_round: tuple[float, ...]
    drift: float = 0.0  # the largest move of the limits around one of its measurements
    disturbed: bool = False  # a measurement taken after the wait for a quiet machine ran out

    @property
    def median(self) -> float:
        return statistics.median(self.per_round)

    @property
    def low(self) -> float:
        return min(self.per_round)

    @property
    def high(self) -> float:
        return max(self.per_round)

    @property
    def spread(self) -> float:
        return (self.high - self.low) / self.median if self.median else 0.0

    def marks(self, bounds: Bounds) -> tuple[str, ...]:
        """Why the figure cannot be trusted; empty when it can."""
        out = []
        if self.spread > bounds.max_spread:
            out.append(f"rounds spread {self.spread:.0%} > {bounds.max_spread:.0%}")
        if self.drift > bounds.max_drift:
            out.append(f"limits moved {self.drift:.0%} > {bounds.max_drift:.0%}")
        return tuple(out)

    def trusted(self, bounds: Bounds) -> bool:
        return not self.marks(bounds)


def value(sample: Sample, *, codes: bool) -> float:
    return sample.codes_rate if codes else sample.ok_rate


def against(samples: Sequence[Sample], limits: Limits, kind: LimitKind, *, codes: bool) -> Ratio:
    """Each round's figure over ``kind``'s limit at the time of that round's measurement."""
    if not samples:
        raise ValueError("no samples")
    return Ratio(
        per_round=tuple(value(s, codes=codes) / limits.at(s.mid, kind) for s in samples),
        drift=max(limits.drift_at(s.mid) for s in samples),
        disturbed=any(_disturbed(s, limits) for s in samples),
    )


def paired(top: Sequence[Sample], bottom: Sequence[Sample], limits: Limits) -> Ratio | None:
    """Codes/s of ``top`` over ``bottom``, round by round (rounds where both were measured)."""
    below = {s.round: s for s in bottom}
    pairs = [(a, below[a.round]) for a in top if a.round in below and below[a.round].codes_rate]
    if not pairs:
        return None
    return Ratio(
        per_round=tuple(a.codes_rate / b.codes_rate for a, b in pairs),
        drift=max(limits.drift_at(s.mid) for pair in pairs for s in pair),
        disturbed=any(_disturbed(s, limits) for pair in pairs for s in pair),
    )


def _disturbed(sample: Sample, limits: Limits) -> bool:
    return disturbed(sample.busy_before, sample.others_during) or limits.disturbed_at(sample.mid)


def ratio_json(ratio: Ratio, bounds: Bounds) -> dict[str, object]:
    return {
        "median": ratio.median, "low": ratio.low, "high": ratio.high, "spread": ratio.spread,
        "drift": ratio.drift, "per_round": list(ratio.per_round), "disturbed": ratio.disturbed,
        "marks": list(ratio.marks(bounds)),
    }  # fmt: skip
