"""Is the run valid, and did it pass? The generator's self-check, thresholds and exit codes.

A Python generator saturates long before wrk does, and a saturated generator blames the server
(research/loadtest.md §3). So every run is judged before it is reported:

- ``INVALID``: the counts do not add up (a request unaccounted for is a bug, never noise);
- ``GENERATOR_SATURATED``: the generator could not keep its own schedule: requests that found a
  connection free still left late (``gen_lag``), its event loop lagged, or (open loop) it used a
  whole core. Its figures are a lower bound and must not be quoted as the server's;
- ``SUT_SATURATED``: the generator was healthy but the server did not keep up with the plan
  (the achieved rate fell below the target, overall or in some second): a valid result, the
  server's knee. Sends that waited for a free connection alone are only a warning;
- ``VALID_WITH_WARNINGS`` / ``VALID``.

``INVALID`` also covers a run that measured the wrong traffic (``expectations``: most answers
errors, a hit ratio off its expectation, fresh traffic that repeated itself). Thresholds are
in ``thresholds``; the exit codes below are shared by every command.

Exit codes are distinct so CI can tell why a run failed; when several apply, the first in
this order wins: invalid run, error rate, latency, rate.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from load_tests import expectations
from load_tests.expectations import Check
from load_tests.records import CheckRecord, Status, Summary, VerdictRecord, as_record
from load_tests.units import ms_limit, ms_unit, pct


class ExitCode(enum.IntEnum):
    OK = 0
    USAGE = 2  # bad arguments or environment (argparse uses 2 too)
    INVALID_RUN = 3  # the generator could not keep its schedule, or counts do not add up
    ERROR_RATE = 4  # --max-error-rate exceeded
    LATENCY = 5  # --max-p99 exceeded
    RATE = 6  # --min-rate not reached
    INCONCLUSIVE = 7  # crosscheck: the machine was too busy to tell


@dataclass(frozen=True, slots=True)
class SelfCheckLimits:
    gen_lag_p50_us: int = 2_000  # timers fire on a ~1 ms grid (uvloop, epoll), like wrk2
    gen_lag_p99_us: int = 10_000
    loop_lag_p99_us: int = 10_000
    cpu_share: float = 0.90  # of one core, per generator process, over the measured phase
    achieved_share: float = 0.98  # open loop: sent / planned
    window_share: float = 0.90  # open loop: any second's sends / that second's plan
    lateness_p99_warn_us: int = 2_000
    hit_ratio_tolerance: float = 0.10  # observed vs expected cache hit ratio, absolute


@dataclass(frozen=True, slots=True)
class WorkloadFacts:
    """What the run's traffic was, against what it was meant to be (``expectations``)."""

    attempts: int  # answers and lost requests
    hit_expected: float | None  # the draws' expected cache hit ratio, the phase compared
    hit_observed: float | None  # the hub's, same phase
    counters: bool | None  # the hub's /metrics answered before and after; None: not asked
    fresh: bool
    codes: int  # codes sent
    distinct: int  # distinct codes among them


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What ``judge`` judges a run by (built by ``report`` from the run's counts and phases)."""

    mode: str  # open | closed
    gen_lag: Summary  # the measured phase's
    loop_lag: Summary
    lateness: Summary
    cpu_share_max: float  # the busiest generator process, as a share of one core
    planned: int
    sent: int
    worst_window_share: float | None  # open loop: the lowest second's sends over its plan
    cap_waits: int
    unsent: int
    unfinished: int
    wrong_verdicts: int
    checked: int
    failed_answers: int
    failures: dict[str, int] = field(default_factory=dict)  # tally.failures: the error table
    problems: tuple[str, ...] = ()  # what does not add up in the counts (tally.run_counts)
    attempts: int | None = None  # answers and lost requests; None: ``sent``
    workload: WorkloadFacts | None = None


Record = Callable[[str, bool, str, str], None]


def judge(facts: RunFacts, limits: SelfCheckLimits = SelfCheckLimits()) -> VerdictRecord:
    """The verdict section of the report."""
    checks: list[Check] = []

    def check(name: str, ok: bool, severity: str, detail: str) -> None:
        checks.append(Check(name, ok, severity, detail))

    check(
        "accounting",
        not facts.problems,
        "invalid",
        "; ".join(facts.problems) or "every request is accounted for",
    )
    open_loop = facts.mode == "open"
    gen = facts.gen_lag
    loop = facts.loop_lag
    if open_loop and gen["count"]:
        check(
            "generator_lag",
            _within(gen["p50"], limits.gen_lag_p50_us)
            and _within(gen["p99"], limits.gen_lag_p99_us),
            "saturated",
            f"sends with a free connection left p50 {ms_unit(gen['p50'])} / p99 "
            f"{ms_unit(gen['p99'])} after their intended time (limits "
            f"{ms_limit(limits.gen_lag_p50_us)} / {ms_limit(limits.gen_lag_p99_us)})",
        )
    if loop["count"]:
        check(
            "event_loop_lag",
            _within(loop["p99"], limits.loop_lag_p99_us),
            "saturated",
            f"heartbeat p99 {ms_unit(loop['p99'])} late (limit {ms_limit(limits.loop_lag_p99_us)})",
        )
    cpu = facts.cpu_share_max
    busy = cpu >= limits.cpu_share
    check(
        "generator_cpu",
        not busy,
        "saturated" if open_loop else "warning",
        f"busiest generator process used {cpu:.0%} of a core (limit {limits.cpu_share:.0%})"
        + (
            "; the closed-loop rate is the generator's, a lower bound"
            if busy and not open_loop
            else ""
        ),
    )
    if open_loop:
        _open_loop_checks(facts, limits, check)
    check(
        "unfinished",
        facts.unsent == 0 and facts.unfinished == 0,
        "warning",
        f"{facts.unsent:,} planned requests never sent, {facts.unfinished:,} unanswered "
        "when the drain ended",
    )
    checks.append(expectations.wrong_verdicts(facts.wrong_verdicts, facts.checked))
    attempts = facts.sent if facts.attempts is None else facts.attempts
    checks.append(expectations.error_answers(facts.failed_answers, attempts, facts.failures))
    workload = facts.workload
    if workload is not None and workload.counters is not None:
        checks.append(
            expectations.hit_ratio(
                workload.hit_expected,
                workload.hit_observed,
                limits.hit_ratio_tolerance,
                counters=workload.counters,
            )
        )
    if workload is not None and workload.fresh:
        checks.append(expectations.fresh_reuse(workload.codes, workload.distinct))
    return {"status": _status(checks), "valid": _status(checks) not in _NOT_VALID,
            "checks": [as_record(c, CheckRecord) for c in checks]}  # fmt: skip


_NOT_VALID = ("INVALID", "GENERATOR_SATURATED")


def _open_loop_checks(facts: RunFacts, limits: SelfCheckLimits, check: Record) -> None:
    planned, sent = facts.planned, facts.sent
    share = sent / planned if planned else 1.0
    check(
        "achieved_rate",
        share >= limits.achieved_share,
        "sut",
        f"sent {sent:,} of {planned:,} planned requests ({pct(share)}) on time or late",
    )
    worst = facts.worst_window_share
    check(
        "per_second_rate",
        worst is None or worst >= limits.window_share,
        "sut",
        "lowest one-second send rate " + ("n/a" if worst is None else f"{pct(worst)} of plan"),
    )
    # Waits for a connection alone are a warning: the server's knee is when it also falls
    # behind the plan (the two rate checks above).
    check(
        "in_flight_cap",
        facts.cap_waits == 0,
        "warning",
        f"{facts.cap_waits:,} sends waited for a free connection "
        "(their latency still runs from the intended time)",
    )
    late = facts.lateness
    check(
        "send_lateness",
        late["count"] == 0 or _within(late["p99"], limits.lateness_p99_warn_us),
        "warning",
        f"send lateness p99 {ms_unit(late['p99'])} (warning above "
        f"{ms_limit(limits.lateness_p99_warn_us)})",
    )


def _within(us: int | None, limit_us: int) -> bool:
    """A percentile at or under its limit (None only in an empty histogram, which is not judged)."""
    return us is not None and us <= limit_us


def _status(checks: list[Check]) -> Status:
    failed = {c.severity for c in checks if not c.ok}
    if "invalid" in failed:
        return "INVALID"
    if "saturated" in failed:
        return "GENERATOR_SATURATED"
    if "sut" in failed:
        return "SUT_SATURATED"
    return "VALID_WITH_WARNINGS" if failed else "VALID"
