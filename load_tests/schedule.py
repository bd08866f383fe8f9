"""The plan of an open-loop run: when each request is *supposed* to be sent.

wrk2's method (research/loadtest.md §1.1): request ``i`` has an intended send time fixed before
the run starts, whatever happens to earlier requests, and its latency is measured from that
time, so a server that stalls is charged for every request that should have gone out meanwhile.

A :class:`Schedule` maps a global slot index to its offset from the common start ``t0`` (in
nanoseconds, CLOCK_MONOTONIC, which is one clock for every process on Linux). Generator ``j`` of
``k`` takes the slots ``i ≡ j (mod k)``, so the merged stream is exactly the planned one, with
no phase artefacts. Pure functions: no clock is read here.
"""

from __future__ import annotations

import bisect
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Step:
    rate: float  # requests per second, > 0
    seconds: float  # > 0


class Schedule:
    """Steps of constant rate, back to back; optionally Poisson arrivals at the same mean rate.

    Slot ``i`` of a step of rate ``r`` that starts at ``s`` seconds with ``c`` slots before it
    is at ``s + (i - c) / r``. With ``poisson_seed`` the gaps are exponential with mean ``1/r``
    (seeded, so every process computes the same plan).
    """

    def __init__(self, steps: Sequence[Step], *, poisson_seed: int | None = None) -> None:
        if not steps or any(s.rate <= 0 or s.seconds <= 0 for s in steps):
            raise ValueError("a schedule needs at least one step, each with rate and seconds > 0")
        self.steps = tuple(steps)
        self.duration_ns = round(sum(s.seconds for s in steps) * NS)
        # Per step: first slot index, start offset (ns), rate.
        self._first: list[int] = []
        self._start: list[int] = []
        first, start = 0, 0.0
        for s in self.steps:
            self._first.append(first)
            self._start.append(round(start * NS))
            first += math.ceil(s.rate * s.seconds - 1e-9)
            start += s.seconds
        self.count = first
        self._poisson: list[int] | None = None
        if poisson_seed is not None:
            self._poisson = self._poisson_offsets(poisson_seed)

    @classmethod
    def constant(cls, rate: float, seconds: float, **kw: int | None) -> Schedule:
        return cls([Step(rate, seconds)], **kw)

    def _poisson_offsets(self, seed: int) -> list[int]:
        rng = random.Random(seed)
        out: list[int] = []
        for n, s in enumerate(self.steps):
            t = self._start[n] / NS
            end = t + s.seconds
            for _ in range(self._step_count(n)):
                t = min(t + rng.expovariate(s.rate), end)
                out.append(round(t * NS))
        return out

    def _step_count(self, n: int) -> int:
        nxt = self._first[n + 1] if n + 1 < len(self.steps) else self.count
        return nxt - self._first[n]

    def offset_ns(self, i: int) -> int:
        """Intended send time of slot ``i``, in ns after ``t0``."""
        if not 0 <= i < self.count:
            raise IndexError(i)
        if self._poisson is not None:
            return self._poisson[i]
        n = bisect.bisect_right(self._first, i) - 1
        return self._start[n] + round((i - self._first[n]) * NS / self.steps[n].rate)

    def rate_at(self, offset_ns: int) -> float:
        """The planned rate at an offset (0 past the end)."""
        n = bisect.bisect_right(self._start, offset_ns) - 1
        return self.steps[n].rate if 0 <= offset_ns < self.duration_ns else 0.0

    def slots(self, proc: int = 0, procs: int = 1) -> Iterator[tuple[int, int]]:
        """(slot index, offset ns) of the slots generator ``proc`` of ``procs`` owns, in order."""
        if not 0 <= proc < procs:
            raise ValueError(f"generator {proc} of {procs}")
        for i in range(proc, self.count, procs):
            yield i, self.offset_ns(i)

    def count_between(self, start_ns: int, end_ns: int) -> int:
        """How many slots are planned in ``[start_ns, end_ns)`` (per-second targets)."""
        if self._poisson is not None:
            return bisect.bisect_left(self._poisson, end_ns) - bisect.bisect_left(
                self._poisson, start_ns
            )
        return self._slots_before(end_ns) - self._slots_before(start_ns)

    def _slots_before(self, t_ns: int) -> int:
        if t_ns <= 0:
            return 0
        if t_ns >= self.duration_ns:
            return self.count
        n = bisect.bisect_right(self._start, t_ns) - 1
        within = math.ceil((t_ns - self._start[n]) * self.steps[n].rate / NS - 1e-9)
        return min(self._first[n] + within, self._first[n] + self._step_count(n))


_STEP = re.compile(r"^\s*([0-9.]+)\s*(?:/s)?\s*[:@x]\s*([0-9.]+)\s*s?\s*$")


def parse_steps(text: str) -> list[Step]:
    """``"1000:10s,2000:10s"`` (rate:seconds, comma-separated) → steps."""
    steps = []
    for part in text.split(","):
        m = _STEP.match(part)
        if not m:
            raise ValueError(f"step {part!r}: expected RATE:SECONDS, e.g. 1000:10s")
        steps.append(Step(float(m.group(1)), float(m.group(2))))
    return steps
