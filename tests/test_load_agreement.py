"""The wrk cross-check's conclusion agrees with its own evidence (issue 12): the harness is
blamed only when its CPU says it was the bottleneck; a busy machine makes the comparison
inconclusive. From synthetic evidence: no wrk, no hub, no timing."""

from __future__ import annotations

from load_tests.agreement import Side, conclude, render
from load_tests.verdict import ExitCode

WRK = Side(rate=1000.0, ok_rate=1000.0, p50_us=4_250, p99_us=16_150, cpu=0.31,
           machine_before=0.05, machine_during=0.70)  # fmt: skip


def harness(**over: float) -> Side:
    base = {"rate": 680.0, "ok_rate": 680.0, "p50_us": 4_650, "p99_us": 14_367, "cpu": 0.18,
            "machine_before": 0.05, "machine_during": 0.70}  # fmt: skip
    return Side(**{**base, **over})  # type: ignore[arg-type]


def test_a_busy_machine_makes_it_inconclusive_not_the_generators_fault() -> None:
    c = conclude(WRK, harness(machine_before=0.45, machine_during=0.97), min_agreement=0.8)
    assert c.exit_code == ExitCode.INCONCLUSIVE
    assert c.conclusion.startswith("inconclusive: the machine is busy")
    assert "18 % of a core" in c.conclusion


def test_a_generator_that_used_its_core_is_blamed() -> None:
    c = conclude(WRK, harness(cpu=0.95), min_agreement=0.8)
    assert c.exit_code == ExitCode.INVALID_RUN
    assert c.conclusion.startswith("generator-limited: the harness reaches 68 % of wrk's rate")


def test_a_saturated_verdict_blames_the_generator_whatever_its_cpu() -> None:
    c = conclude(WRK, harness(), min_agreement=0.8, harness_saturated=True)
    assert c.exit_code == ExitCode.INVALID_RUN and c.conclusion.startswith("generator-limited")


def test_rates_within_the_agreement_agree() -> None:
    c = conclude(WRK, harness(rate=900, ok_rate=900), min_agreement=0.8)
    assert c.exit_code == ExitCode.OK and c.conclusion == "agrees with wrk"
    assert c.ratio == 0.9


def test_the_summary_gives_both_rates_the_ratio_and_both_cpus() -> None:
    text = render(conclude(WRK, harness(machine_during=0.97), min_agreement=0.8))
    lines = text.splitlines()
    assert lines[0].startswith("crosscheck: inconclusive")
    wrk_line = next(line for line in lines if line.startswith("wrk"))
    ours = next(line for line in lines if line.startswith("harness"))
    assert "1,000" in wrk_line and "31 % of a core" in wrk_line and "70 %" in wrk_line
    assert "680" in ours and "18 % of a core" in ours and "97 %" in ours
    assert any("0.68" in line for line in lines)
