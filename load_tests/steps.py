"""One row per step of an open-loop plan (``--steps 200:5s,400:5s``): planned, achieved, latency.

A ramp's average says nothing about its knee, so every step is reported on its own, from the
per-second records: a measured second belongs to the step in which it starts (answers go by
the second they arrived, as everywhere in the report), and the drain's seconds to the last
step. Steps of whole seconds are therefore exact; a fractional step shares its last second.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from load_tests.generator import Second
from load_tests.histograms import Histogram
from load_tests.schedule import NS, Schedule, Step


@dataclass(frozen=True, slots=True)
class StepRow:
    step: int  # 1-based, as a person counts them
    rate: float  # planned requests per second
    start_s: float  # from the start of the measured phase
    seconds: float
    planned: int
    sent: int
    answered: int
    ok: int
    errors: int  # answers other than 200, and requests lost
    achieved_rate: float  # answers per second
    ok_rate: float  # 200 answers per second: what --min-rate judges
    latency_p50_us: int | None
    latency_p99_us: int | None
    latency_p99_9_us: int | None
    latency_max_us: int | None


def step_rows(
    steps: Sequence[Step],
    warmup_s: int,
    schedule: Schedule,
    seconds: Mapping[int, Second],
) -> list[StepRow]:
    starts, t = [], 0.0
    for s in steps:
        starts.append(t)
        t += s.seconds
    members: list[list[Second]] = [[] for _ in steps]
    for second in sorted(seconds):
        if second >= warmup_s:
            n = bisect.bisect_right(starts, second - warmup_s + 1e-9) - 1
            members[max(0, n)].append(seconds[second])
    rows = []
    for n, (step, start, group) in enumerate(zip(steps, starts, members, strict=True)):
        at = round((warmup_s + start) * NS)
        latency = Histogram()
        sent = answered = ok = lost = 0
        for sec in group:
            latency.add(sec.hist["latency"])
            sent += sec.counts["sent"]
            answered += sec.counts["completed"]
            ok += sec.status.get("200", 0)
            lost += sum(sec.errors.values())
        summary = latency.summary()
        rows.append(
            StepRow(
                step=n + 1,
                rate=step.rate,
                start_s=start,
                seconds=step.seconds,
                planned=schedule.count_between(at, at + round(step.seconds * NS)),
                sent=sent,
                answered=answered,
                ok=ok,
                errors=answered - ok + lost,
                achieved_rate=answered / step.seconds,
                ok_rate=ok / step.seconds,
                latency_p50_us=summary["p50"],
                latency_p99_us=summary["p99"],
                latency_p99_9_us=summary["p99_9"],
                latency_max_us=summary["max"],
            )
        )
    return rows
