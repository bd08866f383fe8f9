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

Exit codes are distinct so CI can tell why a run failed; when several apply, the first in
this order wins: invalid run, error rate, latency, rate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class ExitCode(enum.IntEnum):
    OK = 0
    USAGE = 2  # bad arguments or environment (argparse uses 2 too)
    INVALID_RUN = 3  # the generator could not keep its schedule, or counts do not add up
    ERROR_RATE = 4  # --max-error-rate exceeded
    LATENCY = 5  # --max-p99 exceeded
    RATE = 6  # --min-rate not reached


@dataclass(frozen=True, slots=True)
class SelfCheckLimits:
    gen_lag_p50_us: int = 2_000  # timers fire on a ~1 ms grid (uvloop, epoll), like wrk2
    gen_lag_p99_us: int = 10_000
    loop_lag_p99_us: int = 10_000
    cpu_share: float = 0.90  # of one core, per generator process, over the measured phase
    achieved_share: float = 0.98  # open loop: sent / planned
    window_share: float = 0.90  # open loop: any second's sends / that second's plan
    lateness_p99_warn_us: int = 2_000


@dataclass(frozen=True, slots=True)
class Thresholds:
    max_p99_us: int | None = None
    min_rate: float | None = None  # successful requests per second, measured phase
    max_error_rate: float | None = None  # share of requests, measured phase


def judge(facts: dict[str, Any], limits: SelfCheckLimits = SelfCheckLimits()) -> dict[str, Any]:
    """``facts`` (built by ``report``): mode, accounting, measured summaries, cpu, windows.
    Returns the verdict section of the report."""
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, severity: str, detail: str) -> None:
        checks.append({"name": name, "ok": ok, "severity": severity, "detail": detail})

    acc = facts["accounting"]
    check(
        "accounting",
        not acc["problems"],
        "invalid",
        "; ".join(acc["problems"]) or "every request is accounted for",
    )
    open_loop = facts["mode"] == "open"
    gen = facts["gen_lag"]
    loop = facts["loop_lag"]
    if open_loop and gen["count"]:
        check(
            "generator_lag",
            gen["p50"] <= limits.gen_lag_p50_us and gen["p99"] <= limits.gen_lag_p99_us,
            "saturated",
            f"sends with a free connection left p50 {gen['p50']} µs / p99 {gen['p99']} µs "
            f"after their intended time (limits {limits.gen_lag_p50_us} / "
            f"{limits.gen_lag_p99_us} µs)",
        )
    if loop["count"]:
        check(
            "event_loop_lag",
            loop["p99"] <= limits.loop_lag_p99_us,
            "saturated",
            f"heartbeat p99 {loop['p99']} µs late (limit {limits.loop_lag_p99_us} µs)",
        )
    cpu = facts["cpu_share_max"]
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
        planned, sent = facts["planned"], facts["sent"]
        share = sent / planned if planned else 1.0
        check(
            "achieved_rate",
            share >= limits.achieved_share,
            "sut",
            f"sent {sent} of {planned} planned requests ({share:.1%}) on time or late",
        )
        worst = facts["worst_window_share"]
        check(
            "per_second_rate",
            worst is None or worst >= limits.window_share,
            "sut",
            "lowest one-second send rate " + ("n/a" if worst is None else f"{worst:.0%} of plan"),
        )
        # Waits for a connection alone are a warning: the server's knee is when it also falls
        # behind the plan (the two rate checks above).
        check(
            "in_flight_cap",
            facts["cap_waits"] == 0,
            "warning",
            f"{facts['cap_waits']} sends waited for a free connection "
            "(their latency still runs from the intended time)",
        )
        late = facts["lateness"]
        check(
            "send_lateness",
            late["count"] == 0 or late["p99"] <= limits.lateness_p99_warn_us,
            "warning",
            f"send lateness p99 {late['p99']} µs",
        )
    check(
        "unfinished",
        facts["unsent"] == 0 and facts["unfinished"] == 0,
        "warning",
        f"{facts['unsent']} planned requests never sent, {facts['unfinished']} unanswered "
        "when the drain ended",
    )
    check(
        "answers",
        facts["wrong_verdicts"] == 0,
        "warning",
        f"{facts['wrong_verdicts']} of {facts['checked']} checked verdicts differ from the "
        "corpus' expectation",
    )
    check(
        "server_errors",
        facts["failed_answers"] == 0,
        "warning",
        f"{facts['failed_answers']} answers were not 200 or were lost: {facts['failures']}",
    )
    failed = {c["severity"] for c in checks if not c["ok"]}
    if "invalid" in failed:
        status = "INVALID"
    elif "saturated" in failed:
        status = "GENERATOR_SATURATED"
    elif "sut" in failed:
        status = "SUT_SATURATED"
    elif failed:
        status = "VALID_WITH_WARNINGS"
    else:
        status = "VALID"
    return {
        "status": status,
        "valid": status not in ("INVALID", "GENERATOR_SATURATED"),
        "checks": checks,
    }


def apply_thresholds(
    thresholds: Thresholds, measured: dict[str, Any], verdict: dict[str, Any]
) -> tuple[list[dict[str, Any]], ExitCode]:
    """Threshold results for the report and the run's exit code."""
    results: list[dict[str, Any]] = []
    p99 = measured["histograms"]["latency"]["p99"]
    if thresholds.max_p99_us is not None:
        ok = p99 is not None and p99 <= thresholds.max_p99_us
        results.append(_result("max_p99_us", thresholds.max_p99_us, p99, ok, ExitCode.LATENCY))
    if thresholds.min_rate is not None:
        rate = measured["ok_rate"]
        ok = rate >= thresholds.min_rate
        results.append(_result("min_rate", thresholds.min_rate, rate, ok, ExitCode.RATE))
    if thresholds.max_error_rate is not None:
        er = measured["error_rate"]
        ok = er <= thresholds.max_error_rate
        results.append(
            _result("max_error_rate", thresholds.max_error_rate, er, ok, ExitCode.ERROR_RATE)
        )
    if not verdict["valid"]:
        return results, ExitCode.INVALID_RUN
    failed = [ExitCode(r["exit_code"]) for r in results if not r["ok"]]
    order = (ExitCode.ERROR_RATE, ExitCode.LATENCY, ExitCode.RATE)
    for code in order:
        if code in failed:
            return results, code
    return results, ExitCode.OK


def _result(
    name: str, limit: float, value: float | None, ok: bool, code: ExitCode
) -> dict[str, Any]:
    return {"name": name, "limit": limit, "value": value, "ok": ok, "exit_code": int(code)}
