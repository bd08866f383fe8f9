"""One gateway figure of a run: a scenario on a subject, summarised over its rounds.

Rates and latencies are medians over the rounds (each round one wrk run); the ratios to the
limits are medians of per-round ratios (``ratios.against``), so a slow minute lowers a
round's numerator and denominator together. Both are read from the rounds others did not
disturb when at least half are clean (``Ratio.used``). *busy before* is the worst of those
rounds' (did the wait for a quiet machine run out?), *busy during* the median one's, *others
during* the worst one's.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

from load_tests.bench.document import BenchDoc
from load_tests.bench.latency import AckFigure, StallFigure, summarise_acks, summarise_stall
from load_tests.bench.limits import LimitKind, Limits
from load_tests.bench.openloop import Point, summarise_points
from load_tests.bench.ratios import Bounds, Ratio, against
from load_tests.bench.samples import Rounds, legacy_open_loop, rounds_from_json


@dataclass(frozen=True, slots=True)
class Figure:
    subject: str
    scenario: str
    rounds: int
    ok_rate: float
    codes_rate: float
    p50_us: float
    p99_us: float
    errors: int
    wrapped: bool
    busy_before: float
    busy_during: float
    others_during: float  # the worst round's
    retries: int  # measurements taken again over the rounds
    per_empty: Ratio  # requests/s over the empty handler's
    per_raw: Ratio  # codes/s over the raw signature rate (corpus mix)


def figure(rounds: Rounds, limits: Limits, subject: str, scenario: str) -> Figure | None:
    samples = rounds.of(subject, scenario)
    if not samples:
        return None
    per_empty = against(samples, limits, LimitKind.EMPTY, codes=False)
    used = [samples[i] for i in per_empty.used]  # the clean rounds, when half or more are
    return Figure(
        subject=subject,
        scenario=scenario,
        rounds=len(used),
        ok_rate=statistics.median(s.ok_rate for s in used),
        codes_rate=statistics.median(s.codes_rate for s in used),
        p50_us=statistics.median(s.p50_us for s in used),
        p99_us=statistics.median(s.p99_us for s in used),
        errors=sum(s.errors for s in samples),
        wrapped=any(s.wrapped for s in samples),
        busy_before=max(s.busy_before for s in used),
        busy_during=statistics.median(s.busy_during for s in used),
        others_during=max(s.others_during for s in used),
        retries=sum(s.retries for s in samples),
        per_empty=per_empty,
        per_raw=against(samples, limits, LimitKind.RAW, codes=True),
    )


@dataclass(frozen=True, slots=True)
class View:
    """A run's rounds with its limits and bounds: what every table of the page is read from."""

    rounds: Rounds
    limits: Limits
    bounds: Bounds

    def figure(self, subject: str, scenario: str) -> Figure | None:
        return figure(self.rounds, self.limits, subject, scenario)

    def open_loop(self) -> list[Point]:
        """The open-loop points, each over its rounds (``openloop``)."""
        return summarise_points(self.rounds.open_loop, self.limits)

    def stall(self) -> list[StallFigure]:
        """A cached single code beside batches of new codes, over the rounds (``stall``)."""
        return summarise_stall(self.rounds.stall, self.limits)

    def acks(self) -> list[AckFigure]:
        """Each deployment's acknowledgement latency over the rounds (``acks``)."""
        return summarise_acks(self.rounds.acks, self.limits)


def view(doc: BenchDoc) -> View:
    """The view of a bench document (``samples`` schema, version 3, 4 or 5: a version-3
    document's open-loop points are read as points of one round; before version 5 there are
    no stall or acknowledgement measurements)."""
    s = doc["settings"]
    rounds = rounds_from_json(doc["rounds"])
    if not rounds.open_loop:
        rounds = replace(rounds, open_loop=legacy_open_loop(doc.get("gateway", {})))
    return View(
        rounds=rounds,
        limits=Limits(rounds.limits, {k: float(v) for k, v in doc["corpus"]["valid_algs"].items()}),
        bounds=Bounds(float(s["max_spread"]), float(s["max_drift"])),
    )
