"""``hcgw-load bench --agree A B``: two runs' ratios side by side, and whether all agree.

Synthetic documents (``bench_docs``: the real schedule on a machine whose speed the test
chooses) and the JSON of record against itself; through the command line for the exit status.
Not the harness' wrk cross-check (test_load_agreement.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench_docs import RATES, document, simulate
from load_tests.bench.agree import agreement, entries, render_agreement
from load_tests.bench.document import BenchDoc
from load_tests.cli import main

LATEST = Path(__file__).resolve().parents[1] / "load_tests" / "bench" / "latest.json"
MISS = "batch of 100, cache miss"


def faster(subject: str, scenario: str, by: float) -> BenchDoc:
    """A run in which one figure is ``by`` times the rate of ``RATES``'."""
    rates = {k: {n: r * (by if (k, n) == (subject, scenario) else 1) for n, r in v.items()}
             for k, v in RATES.items()}  # fmt: skip
    return document(simulate(rates))


def write(tmp_path: Path, name: str, doc: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_every_ratio_of_the_page_is_listed_once() -> None:
    names = list(entries(document()))
    # 2 subjects × 4 scenarios × (÷ empty, ÷ raw), 2 ÷ 1 workers × 4, and the 11 targets (the
    # 8 of the rates and the open loop, and since schema 5 the stall and two acknowledgements;
    # issue 11's goals for the same ratios are not listed again).
    assert len(names) == 16 + 4 + 11 == len(set(names))
    assert "1 worker · single code, cache hit · req ÷ empty" in names
    assert "scaling: 2 ÷ 1 workers · batch of 100, cache miss" in names
    assert "target: open loop at 50 % of max (single code, cache hit): p99 ≤ 5 ms" in names


def test_two_runs_on_a_machine_that_drifts_differently_agree_on_every_ratio() -> None:
    def slow_later(t: float) -> float:
        return 1 / (1 + t / 100)  # slower and slower, limits and gateway alike

    ag = agreement(document(), document(simulate(speed=slow_later)))
    assert ag.ok and ag.within == len(ag.rows) == 31 and ag.misses == []
    assert "**within ±10%: 31 of 31**" in render_agreement(ag)


def test_a_figure_11_percent_faster_in_one_run_is_a_miss_and_so_is_what_reads_it() -> None:
    ag = agreement(document(), faster("1", MISS, 1.11))
    missed = [r.name for r in ag.misses]
    assert missed == [
        # 1.11 - 1 for the figure, 1/1.11 - 1 for the workers' ratio that divides by it
        "1 worker · batch of 100, cache miss · req ÷ empty",
        "1 worker · batch of 100, cache miss · codes ÷ raw",
        "target: batch of 100, cache miss ≥ 0.85 × raw verify",
    ]
    assert not ag.ok and ag.within == 31 - 3
    text = render_agreement(ag)
    assert "**within ±10%: 28 of 31**" in text
    assert "- +11.0%: 1 worker · batch of 100, cache miss · req ÷ empty" in text
    # The workers' ratio moved by 1/1.11 - 1 = -9.9 %: within.
    assert "| scaling: 2 ÷ 1 workers · batch of 100, cache miss | 1.667 (1.667–1.667, 4/4) | " \
        "1.502 (1.502–1.502, 4/4) | -9.9% |" in text  # fmt: skip


def test_a_ratio_only_one_run_measured_does_not_agree() -> None:
    one = document(simulate({"1": RATES["1"]}))
    ag = agreement(document(), one)
    only = [r.name for r in ag.misses if r.b is None]
    assert "2 workers · single code, cache hit · req ÷ empty" in only
    assert "- only in A: 2 workers · single code, cache hit · req ÷ empty" in render_agreement(ag)
    assert not ag.ok


def sawtooth(t: float) -> float:
    return 1.0 if int(t // 40) % 2 == 0 else 0.5


def test_the_report_says_which_settings_the_runs_did_not_share_and_shows_marks() -> None:
    ag = agreement(document(), document(simulate(speed=sawtooth), max_drift=0.01))
    text = render_agreement(ag)
    assert "- settings differ: max_drift: 0.2 in A, 0.01 in B" in text
    marked = [r for r in ag.rows if r.b is not None and r.b.marks]
    assert marked and all(r.a is not None and not r.a.marks for r in marked)
    assert "| B: limits moved " in text
    assert f"({len(marked)} of them marked in one run or both)" in text


def test_the_json_of_record_agrees_with_itself_and_the_command_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(LATEST.read_text())
    ag = agreement(doc, doc)
    # version 5: 40 figures, 16 scaling, 14 targets (12, and issue 11's open loop at 75 %)
    assert ag.ok and len(ag.rows) == 70
    out = tmp_path / "agree.md"
    assert main(["bench", "--agree", str(LATEST), str(LATEST), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "**within ±10%: 70 of 70**" in printed and out.read_text() == printed


def test_the_command_exits_1_when_a_ratio_disagrees_and_2_on_what_is_not_a_bench_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path, "a.json", document())
    b = write(tmp_path, "b.json", faster("2", "single code, cache hit", 0.8))
    assert main(["bench", "--agree", a, b]) == 1
    assert "- -20.0%: 2 workers · single code, cache hit · req ÷ empty" in capsys.readouterr().out
    assert main(["bench", "--agree", a, b, "--tolerance", "0.3"]) == 0
    other = write(tmp_path, "other.json", {"schema": "hcgw-load-report"})
    assert main(["bench", "--agree", a, other]) == 2
    assert "not a hcgw-bench document" in capsys.readouterr().err
