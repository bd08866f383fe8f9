"""The open-loop latency points: each one measured once a round, summarised over the rounds.

A point is the harness (``load_tests.runner``, open loop: latency from the *intended* send
time) at a constant rate, a fraction of the maximum the same round measured for that scenario
on that deployment (``interleave.open_loop_sample``). Its p50, p99 and p99.9 are read from the
latencies of all the rounds together (``latency.pooled``: their histograms merged; the
rounds' own values are its range), from the rounds others did not disturb when at least half
are clean, as every other figure (``ratios.Ratio``). A document before version 7 kept no
histograms: there they are the medians over the rounds.

A latency tail near saturation is what one run cannot pin down: a garbage-collection pause or
a burst of queueing falls into a 3-s run or it does not (the single-miss p99 at 50 % read 52 ms
in one run and 240 ms in the next, one point each), and the median of five such p99s still
moved 12–31 % between two runs. All the rounds' latencies together count each pause once. So
a point is *marked* (shown, not counted as met or missed) when its p99 has too few latencies
above it (``ratios.Pooled``; before version 7: when its p99's rounds spread over
``Bounds.max_spread`` of their median), when the limits moved over ``Bounds.max_drift``
around one of its rounds, or when a round's verdict says its figures are not the gateway's
latency at that rate (``NOT_MEASURED``: the gateway did not keep up, the generator did not, or
the counts or the traffic were wrong).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from load_tests.bench.document import OpenLoopFigureRecord
from load_tests.bench.latency import median_known, pooled
from load_tests.bench.limits import Limits
from load_tests.bench.ratios import Bounds, Ratio, ratio_json
from load_tests.bench.rounds import OpenLoopPoint
from load_tests.bench.samples import OpenLoopSample

FRACTIONS = (0.25, 0.50, 0.75)  # of the same round's maximum
SCENARIOS = ("single code, cache hit", "single code, cache miss")
NOT_MEASURED = ("SUT_SATURATED", "GENERATOR_SATURATED", "INVALID")  # load_tests.verdict's


def points(subject: str, scenarios: Sequence[str]) -> tuple[OpenLoopPoint, ...]:
    """The open-loop points of a run: every fraction of each single-code scenario measured."""
    return tuple(OpenLoopPoint(subject, name, f) for name in SCENARIOS if name in scenarios
                 for f in FRACTIONS)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Point:
    """One open-loop point over its rounds; latencies in µs."""

    subject: str
    scenario: str
    fraction: float
    samples: tuple[OpenLoopSample, ...]  # in round order
    p50: Ratio
    p99: Ratio
    p99_9: Ratio

    @property
    def used(self) -> tuple[OpenLoopSample, ...]:
        return tuple(self.samples[i] for i in self.p99.used)

    @property
    def target_rate(self) -> float:
        return statistics.median(s.target_rate for s in self.used)

    @property
    def achieved(self) -> float:
        return statistics.median(s.achieved for s in self.used)

    @property
    def max_us(self) -> float | None:
        return median_known(s.latency_us.get("max") for s in self.used)

    @property
    def service_p99_us(self) -> float | None:
        return median_known(s.service_us.get("p99") for s in self.used)

    @property
    def busy_before(self) -> float:
        return max(s.busy_before for s in self.used)

    @property
    def others_during(self) -> float:
        return max(s.others_during for s in self.used)

    @property
    def after_the_rounds(self) -> bool:
        """A version-3 document's point: one run after the rounds."""
        return all(s.block < 0 for s in self.samples)

    def verdict_marks(self) -> tuple[str, ...]:
        """``round 2: SUT_SATURATED``, for every round used whose verdict is in NOT_MEASURED."""
        return tuple(f"round {s.round + 1}: {s.verdict}" for s in self.used
                     if s.verdict in NOT_MEASURED)  # fmt: skip

    def marks(self, bounds: Bounds) -> tuple[str, ...]:
        """Why the point (its p99, which the target reads) is not to be trusted."""
        return (*self.p99.marks(bounds), *self.verdict_marks())


def summarise_points(samples: Sequence[OpenLoopSample], limits: Limits) -> list[Point]:
    """Every point of a run, in the order first measured."""
    keys = list(dict.fromkeys((s.subject, s.scenario, s.fraction) for s in samples))
    out = []
    for key in keys:
        mine = tuple(sorted((s for s in samples if (s.subject, s.scenario, s.fraction) == key
                             and s.latency_us.get("p99") is not None),
                            key=lambda s: s.round))  # fmt: skip
        if not mine:
            continue
        p50, p99, p99_9 = (pooled(mine, pct, limits) for pct in ("p50", "p99", "p99_9"))
        out.append(Point(*key, mine, p50, p99, p99_9))
    return out


def point_json(p: Point, bounds: Bounds) -> OpenLoopFigureRecord:
    return {
        "subject": p.subject, "scenario": p.scenario, "fraction": p.fraction,
        "rounds": len(p.used), "target_rate": p.target_rate, "achieved": p.achieved,
        "p50": ratio_json(p.p50, bounds), "p99": ratio_json(p.p99, bounds),
        "p99_9": ratio_json(p.p99_9, bounds), "max_us": p.max_us,
        "service_p99_us": p.service_p99_us, "verdicts": [s.verdict for s in p.samples],
        "marks": list(p.marks(bounds)), "disturbed": p.p99.disturbed,
        "busy_before": p.busy_before, "others_during": p.others_during,
    }  # fmt: skip
