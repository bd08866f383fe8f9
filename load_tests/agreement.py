"""What the wrk cross-check concludes, from its own evidence, and the summary a person reads.

Both sides ran closed loops with the same connections against the same hub. When the harness
reaches at least ``min_agreement`` of wrk's rate, it agrees. When it does not, the harness is
blamed only if its own figures say it was the bottleneck: its busiest process used (nearly) a
whole core, or its run was judged ``GENERATOR_SATURATED``. Otherwise the gap has another
cause; on a shared machine it is usually other work, seen as the machine's busy share in the
second before each side (nothing of ours running) and during it. Then the comparison is
inconclusive, and says so, with the figures, instead of a verdict its evidence contradicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from load_tests.units import core, ms, pct, sig3
from load_tests.verdict import ExitCode

SATURATED_CORE = 0.90  # a generator process at this share of a core is the bottleneck
BUSY_BEFORE = 0.15  # others' work in the quiet second before a side (the bench's threshold)
BUSY_DURING = 0.90  # the whole machine during a side


@dataclass(frozen=True, slots=True)
class Side:
    """One side of the comparison: its rates, service-time latency and CPU."""

    rate: float  # answers per second
    ok_rate: float
    p50_us: int | None
    p99_us: int | None
    cpu: float  # the busiest generator process, as a share of one core
    machine_before: float  # the machine's busy share (all cores) in the second before
    machine_during: float  # and during the side's run


@dataclass(frozen=True, slots=True)
class Conclusion:
    wrk: Side
    harness: Side
    ratio: float  # harness ok rate / wrk ok rate
    min_agreement: float
    conclusion: str
    exit_code: ExitCode
    wrk_command: str = ""  # its options, e.g. -t1 -c32 -d5s


def conclude(
    wrk: Side,
    harness: Side,
    *,
    min_agreement: float,
    harness_saturated: bool = False,
    wrk_command: str = "",
) -> Conclusion:
    ratio = round(harness.ok_rate / wrk.ok_rate, 3) if wrk.ok_rate else 0.0

    def done(text: str, code: ExitCode) -> Conclusion:
        return Conclusion(wrk, harness, ratio, min_agreement, text, code, wrk_command)

    if ratio >= min_agreement:
        return done("agrees with wrk", ExitCode.OK)
    reaches = f"the harness reaches {ratio * 100:.0f} % of wrk's rate"
    if harness_saturated or harness.cpu >= SATURATED_CORE:
        return done(
            f"generator-limited: {reaches}, its busiest process at {core(harness.cpu)}",
            ExitCode.INVALID_RUN,
        )
    busy = [
        f"{pct(s.machine_before)} busy before {name}'s run, {pct(s.machine_during)} during it"
        for name, s in (("the harness", harness), ("wrk", wrk))
        if s.machine_before > BUSY_BEFORE or s.machine_during >= BUSY_DURING
    ]
    if busy:
        return done(
            f"inconclusive: the machine is busy ({'; '.join(busy)}): {reaches}, but its "
            f"busiest process used {core(harness.cpu)}, so not the harness; run again on a "
            "quiet machine",
            ExitCode.INCONCLUSIVE,
        )
    return done(
        f"inconclusive: {reaches}, but neither its CPU ({core(harness.cpu)}) nor the "
        f"machine ({pct(harness.machine_during)} busy) says why; run again",
        ExitCode.INCONCLUSIVE,
    )


def render(c: Conclusion) -> str:
    head = (
        f"{'':<20}{'rate/s':>10}{'ok/s':>10}{'p50 ms':>9}{'p99 ms':>9}  "
        f"{'generator CPU':<18}machine busy (before → during)"
    )
    lines = [f"crosscheck: {c.conclusion} (exit {int(c.exit_code)})", "", head]
    for name, s in ((f"wrk {c.wrk_command}".rstrip(), c.wrk), ("harness", c.harness)):
        lines.append(
            f"{name:<20}{sig3(s.rate):>10}{sig3(s.ok_rate):>10}{ms(s.p50_us):>9}"
            f"{ms(s.p99_us):>9}  {core(s.cpu):<18}{pct(s.machine_before)} → "
            f"{pct(s.machine_during)}"
        )
    lines += [
        "",
        f"ratio harness/wrk {c.ratio:.2f} (agreement at {c.min_agreement:g} or more); "
        "latencies are service times, closed loop on both sides",
    ]
    return "\n".join(lines)
