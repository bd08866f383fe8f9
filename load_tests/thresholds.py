"""Thresholds (k6's habit): each one a line a person reads, ``✗ latency p99 50.4 ms > 5 ms``.

Judged on the measured phase; ``--min-rate`` on each step of a ramp instead, since the ramp's
average is not a rate the hub was ever asked for: a number applies to every step planned at
that rate or above (``--steps 200:5s,400:5s,800:5s --min-rate 700`` judges the 800/s step), a
share (``--min-rate 95%``) to every step against its own plan. The exit code is the first of
error rate, latency, rate that failed, or 3 for a run that is not valid whatever they say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from load_tests.records import PhaseRecord, VerdictRecord
from load_tests.steps import StepRow
from load_tests.units import ms_limit, ms_unit, pct, rate
from load_tests.verdict import ExitCode


@dataclass(frozen=True, slots=True)
class Thresholds:
    max_p99_us: int | None = None
    min_rate: float | None = None  # successful requests per second
    max_error_rate: float | None = None  # share of requests, measured phase
    min_rate_share: float | None = None  # of each step's planned rate (instead of min_rate)
    typed: tuple[tuple[str, str], ...] = ()  # (flag, as typed), for the report


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    name: str  # max_p99_us | min_rate | max_error_rate (stable, for scripts)
    limit: float  # in the JSON's units: µs, requests/s, share
    value: float | None
    ok: bool
    exit_code: int
    step: int | None  # the step judged (1-based); None: the measured phase
    expression: str  # what a person reads: "latency p99 50.4 ms > 5 ms"
    flag: str  # the option as typed: "--max-p99 5ms"


def _mark(ok: bool, at_most: bool) -> str:
    if at_most:
        return "≤" if ok else ">"
    return "≥" if ok else "<"


def _beside(us: int | None, limit_us: float) -> str:
    """The value in ms, with µs digits when three significant ones would hide that it is over
    (20,016 µs is ``20.016 ms > 20 ms``, not ``20.0 ms > 20 ms``)."""
    text = ms_unit(us)
    if us is not None and us != limit_us and text == ms_unit(limit_us):
        return f"{us / 1000:,.3f} ms"
    return text


def apply_thresholds(
    thresholds: Thresholds,
    measured: PhaseRecord,
    verdict: VerdictRecord,
    steps: Sequence[StepRow] = (),
) -> tuple[list[ThresholdResult], ExitCode]:
    """Threshold results for the report and the run's exit code."""
    typed = dict(thresholds.typed)
    results: list[ThresholdResult] = []
    if thresholds.max_p99_us is not None:
        limit, p99 = thresholds.max_p99_us, measured["histograms"]["latency"]["p99"]
        ok = p99 is not None and p99 <= limit
        flag = "--max-p99 " + typed.get("--max-p99", f"{limit}us")
        expr = f"latency p99 {_beside(p99, limit)} {_mark(ok, True)} {ms_limit(limit)}"
        results.append(ThresholdResult("max_p99_us", limit, p99, ok, int(ExitCode.LATENCY),
                                       None, expr, flag))  # fmt: skip
    if thresholds.min_rate is not None or thresholds.min_rate_share is not None:
        results += _min_rate(thresholds, measured, steps, typed.get("--min-rate"))
    if thresholds.max_error_rate is not None:
        most, er = thresholds.max_error_rate, measured["error_rate"]
        ok = er <= most
        flag = "--max-error-rate " + typed.get("--max-error-rate", f"{most:g}")
        expr = f"error rate {pct(er)} {_mark(ok, True)} {pct(most)}"
        results.append(ThresholdResult("max_error_rate", most, er, ok, int(ExitCode.ERROR_RATE),
                                       None, expr, flag))  # fmt: skip
    if not verdict["valid"]:
        return results, ExitCode.INVALID_RUN
    failed = {r.exit_code for r in results if not r.ok}
    for code in (ExitCode.ERROR_RATE, ExitCode.LATENCY, ExitCode.RATE):
        if int(code) in failed:
            return results, code
    return results, ExitCode.OK


def _min_rate(
    t: Thresholds, measured: PhaseRecord, steps: Sequence[StepRow], typed: str | None
) -> list[ThresholdResult]:
    share = t.min_rate_share
    flag = "--min-rate " + (typed or (f"{share:.0%}" if share is not None else f"{t.min_rate:g}"))
    code = int(ExitCode.RATE)
    if len(steps) <= 1:
        value = measured["ok_rate"]
        limit = t.min_rate if share is None else share * (steps[0].rate if steps else 0.0)
        assert limit is not None
        ok = value >= limit
        expr = f"ok rate {rate(value)} {_mark(ok, False)} {rate(limit)}"
        return [ThresholdResult("min_rate", limit, value, ok, code, None, expr, flag)]
    out = []
    for row in steps:
        if share is None:
            assert t.min_rate is not None
            if row.rate < t.min_rate:
                continue  # a step planned below the limit cannot be asked to reach it
            limit, of = t.min_rate, rate(t.min_rate)
        else:
            limit, of = share * row.rate, f"{pct(share)} of {rate(row.rate)}"
        ok = row.ok_rate >= limit
        expr = f"step {row.step} ok rate {rate(row.ok_rate)} {_mark(ok, False)} {of}"
        out.append(ThresholdResult("min_rate", limit, row.ok_rate, ok, code, row.step, expr, flag))
    if not out:
        assert t.min_rate is not None
        top = max(row.rate for row in steps)
        expr = (
            f"ok rate: no step is planned at {rate(t.min_rate)} or more (the highest {rate(top)})"
        )
        out.append(ThresholdResult("min_rate", t.min_rate, None, False, code, None, expr, flag))
    return out
