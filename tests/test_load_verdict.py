"""Run validity, thresholds and exit codes, from synthetic facts."""

from __future__ import annotations

from typing import Any, cast

import pytest

from load_tests.records import PhaseRecord, Summary, VerdictRecord
from load_tests.thresholds import Thresholds, apply_thresholds
from load_tests.verdict import ExitCode, RunFacts, judge


def hist(p50: int = 100, p99: int = 500, count: int = 1000) -> Summary:
    return {"count": count, "out_of_range": 0, "min": 1, "mean": p50, "p50": p50, "p90": p99,
            "p99": p99, "p99_9": p99, "p99_99": p99, "max": p99}  # fmt: skip


def facts(**over: Any) -> RunFacts:
    base: dict[str, Any] = {
        "mode": "open",
        "gen_lag": hist(),
        "loop_lag": hist(),
        "lateness": hist(),
        "cpu_share_max": 0.3,
        "planned": 1000,
        "sent": 1000,
        "worst_window_share": 1.0,
        "cap_waits": 0,
        "unsent": 0,
        "unfinished": 0,
        "wrong_verdicts": 0,
        "checked": 10,
        "failed_answers": 0,
        "failures": {},
    }
    base.update(over)
    return RunFacts(**base)


def test_a_healthy_run_is_valid() -> None:
    v = judge(facts())
    assert v["status"] == "VALID" and v["valid"]
    assert all(c["ok"] for c in v["checks"])


def test_counts_that_do_not_add_up_make_the_run_invalid() -> None:
    v = judge(facts(problems=("sent 10 != answered 9 + lost 0 + unanswered 0",)))
    assert v["status"] == "INVALID" and not v["valid"]


@pytest.mark.parametrize(
    "over",
    [
        {"gen_lag": hist(p50=5_000, p99=9_000)},
        {"gen_lag": hist(p50=500, p99=50_000)},
        {"loop_lag": hist(p99=80_000)},
        {"cpu_share_max": 0.97},
    ],
    ids=["gen-lag-p50", "gen-lag-p99", "loop-lag", "cpu"],
)
def test_a_generator_that_cannot_keep_its_schedule_is_saturated(over: dict[str, Any]) -> None:
    v = judge(facts(**over))
    assert v["status"] == "GENERATOR_SATURATED" and not v["valid"]


def test_a_busy_closed_loop_generator_only_warns_its_rate_is_a_lower_bound() -> None:
    v = judge(facts(mode="closed", cpu_share_max=0.99))
    assert v["status"] == "VALID_WITH_WARNINGS" and v["valid"]


def test_a_server_that_falls_behind_a_healthy_generator_is_the_servers_knee() -> None:
    v = judge(facts(cap_waits=4000, worst_window_share=0.2, lateness=hist(p99=900_000)))
    assert v["status"] == "SUT_SATURATED" and v["valid"]


def test_sends_that_waited_for_a_connection_alone_are_a_warning() -> None:
    assert judge(facts(cap_waits=181))["status"] == "VALID_WITH_WARNINGS"


def test_wrong_answers_and_unanswered_requests_are_warnings() -> None:
    assert judge(facts(wrong_verdicts=1))["status"] == "VALID_WITH_WARNINGS"
    assert judge(facts(unfinished=3))["status"] == "VALID_WITH_WARNINGS"
    assert judge(facts(failed_answers=2, failures={"503": 2}))["status"] == "VALID_WITH_WARNINGS"


def measured(
    p99: int | None = 900, ok_rate: float = 1000.0, error_rate: float = 0.0
) -> PhaseRecord:
    """Only the fields of a measured phase that the thresholds read."""
    partial = {
        "histograms": {"latency": {"p99": p99}},
        "ok_rate": ok_rate,
        "error_rate": error_rate,
    }
    return cast(PhaseRecord, partial)


def verdict(valid: bool) -> VerdictRecord:
    """Only the field of a run's verdict that the thresholds read."""
    return cast(VerdictRecord, {"valid": valid})


VALID = verdict(True)


def test_no_thresholds_exit_zero() -> None:
    assert apply_thresholds(Thresholds(), measured(), VALID) == ([], ExitCode.OK)


@pytest.mark.parametrize(
    ("thresholds", "m", "code"),
    [
        (Thresholds(max_p99_us=1000), measured(p99=1001), ExitCode.LATENCY),
        (Thresholds(min_rate=2000), measured(ok_rate=1999.9), ExitCode.RATE),
        (Thresholds(max_error_rate=0.001), measured(error_rate=0.0011), ExitCode.ERROR_RATE),
    ],
    ids=["p99", "rate", "errors"],
)
def test_each_threshold_has_its_own_exit_code(
    thresholds: Thresholds, m: PhaseRecord, code: ExitCode
) -> None:
    results, exit_code = apply_thresholds(thresholds, m, VALID)
    assert exit_code is code and [r.ok for r in results] == [False]


def test_thresholds_at_their_limit_pass() -> None:
    t = Thresholds(max_p99_us=1000, min_rate=1000, max_error_rate=0.01)
    _, code = apply_thresholds(t, measured(p99=1000, ok_rate=1000, error_rate=0.01), VALID)
    assert code is ExitCode.OK


def test_error_rate_wins_over_latency_over_rate() -> None:
    t = Thresholds(max_p99_us=1, min_rate=1e9, max_error_rate=0)
    assert apply_thresholds(t, measured(error_rate=0.5), VALID)[1] is ExitCode.ERROR_RATE
    assert apply_thresholds(t, measured(error_rate=0), VALID)[1] is ExitCode.LATENCY


def test_an_invalid_run_exits_with_its_own_code_whatever_the_thresholds() -> None:
    results, code = apply_thresholds(Thresholds(max_p99_us=10**9), measured(), verdict(False))
    assert code is ExitCode.INVALID_RUN and results[0].ok


def test_exit_codes_are_distinct() -> None:
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
