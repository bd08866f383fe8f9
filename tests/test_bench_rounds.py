"""The bench's rounds: their order, the limit at a moment, median-of-ratios, marks, the JSON.

No timing here: the rates are synthetic (``bench_docs.simulate``), on a machine whose speed
the tests choose, so what is checked is the arithmetic that makes a ratio hold when the
machine's speed drifts.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

import pytest

from bench_docs import EMPTY, RATES, SHARES, compared, document, simulate, version_3, version_4
from load_tests.bench.document import (
    AckSampleRecord,
    BenchDoc,
    FigureRecord,
    LimitSampleRecord,
    LimitSummaryRecord,
    OpenLoopSampleRecord,
    SampleRecord,
    StallSampleRecord,
)
from load_tests.bench.figures import Figure, view
from load_tests.bench.latency import QUANTILES, histoblob
from load_tests.bench.limits import LimitKind, Limits, LimitSummary
from load_tests.bench.markdown import render
from load_tests.bench.ratios import Bounds, Pooled, Ratio, against, paired, ratio_json
from load_tests.bench.rounds import (
    AckSlot,
    GatewaySlot,
    LimitSlot,
    OpenLoopPoint,
    OpenLoopSlot,
    StallSlot,
    rotate,
    schedule,
)
from load_tests.bench.samples import (
    AckSample,
    LimitSample,
    OpenLoopSample,
    Rounds,
    Sample,
    SchemaError,
    StallSample,
    check_schema,
    rounds_from_json,
    rounds_to_json,
)
from load_tests.bench.summary import summarise
from typed_json import mismatches

SUBJECTS = ["1", "2", "2-gunicorn"]
SCENARIOS = ["hit", "miss"]

# -- the schedule ------------------------------------------------------------------------------


def test_every_block_opens_with_the_limits_and_measures_every_subject_once() -> None:
    slots = schedule(SUBJECTS, SCENARIOS, rounds=3)
    assert len(slots) == 3 * len(SCENARIOS) * (1 + len(SUBJECTS)) + 1
    assert isinstance(slots[0], LimitSlot) and isinstance(slots[-1], LimitSlot)
    blocks: dict[int, list[GatewaySlot]] = {}
    for slot in slots:
        if isinstance(slot, GatewaySlot):
            blocks.setdefault(slot.block, []).append(slot)
    for block in blocks.values():
        assert sorted(s.subject for s in block) == sorted(SUBJECTS)
        assert len({(s.round, s.scenario) for s in block}) == 1
    limit_blocks = [s.block for s in slots if isinstance(s, LimitSlot)]
    assert limit_blocks == list(range(len(blocks) + 1))  # one per block, one to close the run


def test_each_round_measures_each_scenario_on_each_subject_once() -> None:
    slots = [s for s in schedule(SUBJECTS, SCENARIOS, rounds=4) if isinstance(s, GatewaySlot)]
    counts = Counter((s.round, s.subject, s.scenario) for s in slots)
    assert set(counts.values()) == {1}
    assert len(counts) == 4 * len(SUBJECTS) * len(SCENARIOS)


def test_rotation_puts_every_subject_and_every_scenario_in_every_position() -> None:
    slots = schedule(SUBJECTS, SCENARIOS * 2, rounds=len(SUBJECTS))
    positions: dict[str, set[int]] = {s: set() for s in SUBJECTS}
    by_block: dict[int, list[GatewaySlot]] = {}
    for slot in slots:
        if isinstance(slot, GatewaySlot):
            by_block.setdefault(slot.block, []).append(slot)
    for block in by_block.values():
        for i, slot in enumerate(block):
            positions[slot.subject].add(i)
    assert all(p == set(range(len(SUBJECTS))) for p in positions.values())
    firsts = [next(s for s in slots if isinstance(s, GatewaySlot) and s.round == r).scenario
              for r in range(2)]  # fmt: skip
    assert firsts == ["hit", "miss"]  # the first block of each round moves on


def test_two_subjects_alternate_which_goes_first() -> None:
    slots = [s for s in schedule(["head", "base"], ["x"], rounds=4) if isinstance(s, GatewaySlot)]
    assert [s.subject for s in slots] == ["head", "base", "base", "head"] * 2


def test_a_group_is_measured_back_to_back_and_takes_turns_within() -> None:
    groups = [("1", "1@base"), ("2", "2@base")]
    slots = [s for s in schedule(groups, ["x"], rounds=4) if isinstance(s, GatewaySlot)]
    blocks = [[s.subject for s in slots if s.block == b] for b in range(4)]
    assert blocks == [["1", "1@base", "2", "2@base"], ["2@base", "2", "1@base", "1"],
                      ["1", "1@base", "2", "2@base"], ["2@base", "2", "1@base", "1"]]  # fmt: skip


def test_open_loop_points_close_every_round_each_once_after_a_limit_slot() -> None:
    points = [OpenLoopPoint("1", "hit", f) for f in (0.25, 0.5, 0.75)]
    slots = schedule(SUBJECTS, SCENARIOS, rounds=3, open_loop=points)
    for r in range(3):
        mine = [s for s in slots if not isinstance(s, LimitSlot) and s.round == r]
        # The round's gateway blocks first (their maxima set the rates), then its points.
        kinds = [type(s) for s in mine]
        assert kinds == [GatewaySlot] * len(SCENARIOS) * len(SUBJECTS) + [OpenLoopSlot] * 3
        ol = [s for s in mine if isinstance(s, OpenLoopSlot)]
        assert sorted(s.fraction for s in ol) == [0.25, 0.5, 0.75]
        assert ol[0].fraction == points[r].fraction  # their order rotates too
        first = slots.index(ol[0])
        assert isinstance(slots[first - 1], LimitSlot)  # the last gateway block keeps its bracket
    assert isinstance(slots[-1], LimitSlot)


def test_stall_and_acknowledgement_slots_close_every_round_in_the_open_loop_block() -> None:
    points = [OpenLoopPoint("1", "hit", 0.5)]
    acked = ["1", "2", "1-leases", "2-leases"]
    slots = schedule(SUBJECTS, SCENARIOS, rounds=4, open_loop=points, stall=["1"], acks=acked)
    for r in range(4):
        mine = [s for s in slots if not isinstance(s, LimitSlot | GatewaySlot) and s.round == r]
        # The open-loop points, then the stall, then every acknowledgement: one block.
        assert [type(s) for s in mine] == [OpenLoopSlot, StallSlot] + [AckSlot] * 4
        assert len({s.block for s in mine}) == 1
        assert isinstance(slots[slots.index(mine[0]) - 1], LimitSlot)
        assert isinstance(slots[slots.index(mine[-1]) + 1], LimitSlot)  # the next bracket
        acks = [s.subject for s in mine if isinstance(s, AckSlot)]
        assert acks == rotate(acked, r)  # each deployment takes every position in turn
    # Without open-loop points the latency block still has its limit slot.
    alone = schedule(SUBJECTS, SCENARIOS, rounds=1, acks=["1"])
    assert [type(s) for s in alone[-3:]] == [LimitSlot, AckSlot, LimitSlot]


def test_rotate_wraps_round() -> None:
    assert rotate([1, 2, 3], 0) == [1, 2, 3]
    assert rotate([1, 2, 3], 4) == [2, 3, 1]
    assert rotate([], 2) == []


def test_a_run_needs_a_round_a_subject_and_a_scenario() -> None:
    with pytest.raises(ValueError, match="at least one round"):
        schedule(SUBJECTS, SCENARIOS, rounds=0)
    with pytest.raises(ValueError, match="at least one round"):
        schedule([], SCENARIOS, rounds=1)


# -- the limit at a moment ----------------------------------------------------------------------


def slot(mid: float, empty: float, raw: float = 15_000.0) -> LimitSample:
    return LimitSample(0, 0, mid - 1, mid + 1, empty,
                       {"Ed25519/libsodium": raw, "ES256/cryptography": raw})  # fmt: skip


def test_the_limit_is_interpolated_between_the_slots_around_a_measurement() -> None:
    limits = Limits((slot(10, 10_000), slot(30, 20_000)), SHARES)
    assert limits.at(10, LimitKind.EMPTY) == 10_000
    assert limits.at(15, LimitKind.EMPTY) == pytest.approx(12_500)
    assert limits.at(30, LimitKind.EMPTY) == 20_000
    assert limits.at(5, LimitKind.EMPTY) == 10_000  # before the first slot: the first
    assert limits.at(40, LimitKind.EMPTY) == 20_000


def test_drift_is_how_far_the_limits_moved_between_the_slots_around_a_measurement() -> None:
    limits = Limits((slot(10, 10_000), slot(30, 12_000), slot(50, 12_000, raw=9_000)), SHARES)
    assert limits.drift_at(20) == pytest.approx(0.2)  # the empty handler: 10k → 12k
    assert limits.drift_at(40) == pytest.approx(15_000 / 9_000 - 1)  # the raw rate
    assert limits.drift_at(60) == 0.0


def test_the_serial_limit_adds_the_cost_of_a_request_and_a_signature() -> None:
    limits = Limits((slot(10, 20_000, raw=15_000),), SHARES)
    assert limits.at(10, LimitKind.RAW) == pytest.approx(15_000)
    assert limits.at(10, LimitKind.SERIAL) == pytest.approx(1 / (1 / 20_000 + 1 / 15_000))


def test_the_raw_limit_of_a_mixed_corpus_adds_the_costs_of_each_algorithm() -> None:
    # Half at 30k/s, half at 10k/s: 1 / (0.5/30000 + 0.5/10000) = 15,000 verifications/s.
    v = view(document())
    assert v.limits.summary(LimitKind.RAW).median == pytest.approx(15_000)


# -- median of per-round ratios ------------------------------------------------------------------


def test_a_ratio_is_the_median_of_the_per_round_ratios_with_their_range() -> None:
    r = Ratio((0.5, 0.4, 0.45, 0.6))
    assert r.median == pytest.approx(0.475) and (r.low, r.high) == (0.4, 0.6)
    assert r.spread == pytest.approx(0.2 / 0.475)
    assert Ratio((0.3, 0.9, 0.31)).median == 0.31  # one bad round does not move it


def sawtooth(t: float) -> float:
    """The machine's speed halves and comes back every 40 s (the drift issue 16 measured)."""
    return 1.0 if int(t // 40) % 2 == 0 else 0.5


def test_a_machine_that_drifts_alike_for_limits_and_gateway_leaves_every_ratio_alone() -> None:
    v = view(document(simulate(speed=lambda t: 1 / (1 + t / 200))))  # slower and slower
    hit = v.figure("1", "single code, cache hit")
    assert hit is not None
    assert hit.per_empty.median == pytest.approx(12_000 / EMPTY, rel=0.02)
    assert hit.per_empty.spread < 0.05
    miss = v.figure("1", "batch of 100, cache miss")
    assert miss is not None and miss.per_raw.median == pytest.approx(12_000 / 15_000, rel=0.02)


def test_a_sudden_slowdown_moves_the_rounds_it_falls_in_and_marks_the_figure() -> None:
    v = view(document(simulate(speed=sawtooth)))
    figures = [v.figure(k, n) for k in ("1", "2") for n in RATES["1"]]
    drifted = [f for f in figures if f is not None and f.per_empty.drift > v.bounds.max_drift]
    assert drifted
    for f in drifted:
        assert any(m.startswith("limits moved") for m in f.per_empty.marks(v.bounds))


def test_a_ratio_is_taken_round_by_round_against_the_limit_of_its_moment() -> None:
    run = simulate(rounds=3)
    samples = run.of("1", "single code, cache hit")
    limits = Limits(run.limits, SHARES)
    r = against(samples, limits, LimitKind.EMPTY, codes=False)
    assert len(r.per_round) == 3 and r.median == pytest.approx(0.6)


def test_a_paired_ratio_divides_two_subjects_round_by_round() -> None:
    run = simulate(speed=sawtooth)
    limits = Limits(run.limits, SHARES)
    r = paired(run.of("2", "batch of 100, cache miss"), run.of("1", "batch of 100, cache miss"),
               limits)  # fmt: skip
    assert r is not None and len(r.per_round) == 4
    assert paired(run.of("2", "x"), run.of("1", "batch of 100, cache miss"), limits) is None


# -- marks -------------------------------------------------------------------------------------


def test_a_figure_is_marked_when_its_rounds_spread_beyond_the_bound_and_not_at_it() -> None:
    bounds = Bounds(max_spread=0.2, max_drift=0.2)
    at = Ratio((0.9, 1.0, 1.1))  # (1.1 - 0.9) / 1.0 = 0.2: at the bound
    assert at.spread == pytest.approx(0.2)
    assert Ratio((0.9, 1.0, 1.0999)).trusted(bounds)
    beyond = Ratio((0.9, 1.0, 1.11))
    assert not beyond.trusted(bounds)
    assert beyond.marks(bounds) == ("rounds spread 21.0% > 20%",)


def test_a_figure_is_marked_when_the_limits_drifted_beyond_the_bound() -> None:
    bounds = Bounds(max_spread=0.2, max_drift=0.2)
    assert Ratio((1.0, 1.0), drifts=(0.1, 0.2)).trusted(bounds)
    assert Ratio((1.0, 1.0), drifts=(0.21, 0.0)).marks(bounds) == ("limits moved 21.0% > 20%",)


def test_a_figure_is_read_from_its_clean_rounds_when_at_least_half_are_clean() -> None:
    r = Ratio((0.50, 0.30, 0.52, 0.51), drifts=(0.0, 0.4, 0.0, 0.0),
              disturbed_rounds=(False, True, False, False))  # fmt: skip
    assert r.used == (0, 2, 3) and r.median == 0.51 and r.low == 0.50
    assert r.drift == 0.0 and not r.disturbed  # the disturbed round's drift is not counted
    half = Ratio((0.50, 0.30, 0.52, 0.29), disturbed_rounds=(False, True, False, True))
    assert half.used == (0, 2) and half.median == pytest.approx(0.51)


def test_a_figure_with_fewer_than_half_its_rounds_clean_is_read_from_all_and_disturbed() -> None:
    r = Ratio((0.50, 0.30, 0.52, 0.29), disturbed_rounds=(False, True, True, True))
    assert r.used == (0, 1, 2, 3) and r.disturbed
    assert r.median == pytest.approx(0.40)


def test_a_marked_target_is_neither_met_nor_missed() -> None:
    from load_tests.bench.summary import record_targets

    d = document(simulate(speed=sawtooth, open_loop=()), max_drift=0.01)
    ts = {t.name: t for t in record_targets(d, view(d))}
    hit = ts["single code, cache hit ≥ 0.6 × empty handler"]
    assert hit.marks and hit.met is None and hit.ratio is not None
    steady_doc = document()
    steady_ts = {t.name: t for t in record_targets(steady_doc, view(steady_doc))}
    assert steady_ts["single code, cache hit ≥ 0.6 × empty handler"].met is True


# -- open-loop points in rounds -------------------------------------------------------------------


def p99s(values_ms: list[float], verdicts: dict[int, str] | None = None) -> BenchDoc:
    """A run whose point at 50 % of the 1-worker single-hit maximum read ``values_ms[r]`` as
    its p99 in round ``r`` (and the verdict ``verdicts[r]``, else VALID)."""

    def latency(slot: OpenLoopSlot) -> tuple[float, str]:
        return values_ms[slot.round] * 1000, (verdicts or {}).get(slot.round, "VALID")

    return document(simulate(rounds=len(values_ms), latency=latency))


TARGET = "open loop at 50 % of max (single code, cache hit): p99 ≤ 5 ms"


def open_loop_target(d: BenchDoc) -> Any:
    from load_tests.bench.summary import record_targets

    return next(t for t in record_targets(d, view(d)) if t.name == TARGET)


def test_an_open_loop_point_is_the_median_of_its_rounds_and_one_tail_does_not_move_it() -> None:
    d = p99s([4.0, 4.4, 48.0, 4.2, 4.3])  # one round caught a 48-ms pause
    (point,) = view(d).open_loop()
    assert point.p99.median == 4_300 and (point.p99.low, point.p99.high) == (4_000, 48_000)
    assert point.target_rate == pytest.approx(6_000)  # 50 % of that round's 12,000/s
    t = open_loop_target(d)
    assert t.value == pytest.approx(4.3) and t.ratio.median == pytest.approx(4.3 / 5)
    # Its rounds spread far beyond 20 %: shown, not counted.
    assert t.marks == ("rounds spread 1023.3% > 20%",) and t.met is None
    steady = open_loop_target(p99s([4.0, 4.4, 4.1, 4.2, 4.3]))
    assert steady.marks == () and steady.met is True


def test_a_round_the_gateway_did_not_keep_up_with_marks_the_point_and_says_which() -> None:
    d = p99s([4.0, 4.1, 4.2, 4.1], verdicts={2: "SUT_SATURATED"})
    t = open_loop_target(d)
    assert t.marks == ("round 3: SUT_SATURATED",) and t.met is None
    text = render(d, "hcgw-load bench")
    assert "VALID ×3, SUT_SATURATED ×1 **(round 3: SUT_SATURATED)**" in text
    assert ("| single code, cache hit | 50% = 6,000/s | 6,000/s | 0.90 (0.90–0.90) | "
            "4.10 (4.00–4.20) | 6.15 (6.00–6.30) |") in text  # fmt: skip
    assert "not counted: round 3: SUT_SATURATED" in text


def test_a_version_3_document_reads_each_point_as_one_run_after_the_rounds() -> None:
    old = version_3(p99s([4.0, 4.4, 48.0, 4.2]))
    check_schema(old)
    (point,) = view(old).open_loop()
    assert point.after_the_rounds and point.p99.per_round == (4_000,)
    assert open_loop_target(old).met is True
    assert "One run per point, after the rounds (a document of version 3)." in render(old, "x")


# -- latencies pooled over the rounds (version 7) ------------------------------------------------


def timed(round_: int, n: int, pause: int = 0) -> list[float]:
    """``n`` latencies in seconds, 1.0–3.0 ms, ``pause`` of them 48 ms (a pause the round
    caught), different in each round."""
    steady = [0.001 + 0.002 * ((i * 7919 + round_ * 104_729) % n) / n for i in range(n)]
    return [0.048] * pause + steady[pause:]


def pooled_run(counts: list[int], pauses: dict[int, int]) -> tuple[Rounds, list[float]]:
    """``simulate()`` with every open-loop point's round ``r`` holding ``counts[r]`` latencies
    (``pauses[r]`` of them 48 ms) as a histogram, its p99 that round's own; and all the
    latencies of the point at 50 % of the 1-worker hit maximum, every round's together."""
    run = simulate(rounds=len(counts))
    every: list[float] = []
    points = []
    for s in run.open_loop:
        mine = timed(s.round, counts[s.round], pauses.get(s.round, 0))
        if s.subject == "1" and s.scenario == "single code, cache hit" and s.fraction == 0.5:
            every += mine
        us = {k: round(sorted(mine)[int(q * len(mine))] * 1e6) for k, q in QUANTILES.items()}
        points.append(replace(s, latency_us={**us, "max": round(max(mine) * 1e6)},
                              latency_hist=histoblob(mine)))  # fmt: skip
    return replace(run, open_loop=tuple(points)), every


def test_a_latency_percentile_is_read_from_every_rounds_latencies_together() -> None:
    # Round 3 caught a 48-ms pause (30 of its 2,000 latencies): its own p99 reads 48 ms, the
    # others' under 3. The median of the five p99s would hide it; all 10,000 latencies
    # together count it once, as the 0.3 % of the time it took.
    run, every = pooled_run([2000] * 5, {2: 30})
    d = document(run)
    (point,) = [p for p in view(d).open_loop() if p.fraction == 0.5]
    p99 = point.p99
    assert isinstance(p99, Pooled) and p99.count == 10_000 and p99.quantile == 0.99
    expected = sorted(every)[int(0.99 * len(every))] * 1e6
    assert p99.median == pytest.approx(expected, rel=1e-3)  # HdrHistogram: 3 digits
    assert p99.high == 48_000 and p99.low < 3_000  # the rounds' own, shown as its range
    # The rounds spread over 1,000 %; the pooled p99 is not marked for it.
    assert p99.spread > 10 and p99.marks(Bounds()) == ()
    t = open_loop_target(d)
    assert t.met is True and t.value == pytest.approx(expected / 1000, rel=1e-3)
    doc = json.loads(json.dumps(d))  # the page written again from the JSON reads the same
    assert [p.p99 for p in view(doc).open_loop()] == [p.p99 for p in view(d).open_loop()]
    record = ratio_json(p99, Bounds())
    assert record["pooled"] == 10_000 and record["median"] == p99.median
    text = render(d, "hcgw-load bench")
    assert "each percentile is read from all the rounds' latencies together" in text
    assert "its p99 has fewer than 10 of the latencies pooled above it" in text


def test_a_pooled_percentile_with_too_few_latencies_above_it_is_marked() -> None:
    run, _ = pooled_run([300, 300, 300], {})
    point = next(p for p in view(document(run)).open_loop() if p.fraction == 0.5)
    assert point.p99.marks(Bounds()) == ("900 latencies < 1,000 for this percentile",)
    assert point.p99_9.marks(Bounds()) == ("900 latencies < 10,000 for this percentile",)
    assert point.p50.marks(Bounds()) == ()
    assert open_loop_target(document(run)).met is None  # shown, not counted


def test_a_round_without_a_histogram_reads_the_median_of_the_rounds_as_before() -> None:
    run, _ = pooled_run([2000] * 5, {2: 30})
    old = replace(run, open_loop=tuple(replace(s, latency_hist="") if s.round == 4 else s
                                       for s in run.open_loop))  # fmt: skip
    point = next(p for p in view(document(old)).open_loop() if p.fraction == 0.5)
    assert not isinstance(point.p99, Pooled)
    assert point.p99.median == statistics.median(point.p99.per_round)


def test_stall_and_acknowledgement_latencies_are_pooled_too() -> None:
    run = simulate(rounds=5)
    stall = tuple(replace(s, latency_hist=histoblob(timed(s.round, 600, 40 if s.round == 1
                                                                        else 0)))
                  for s in run.stall)  # fmt: skip
    acks = tuple(replace(s, latency_hist=histoblob(timed(s.round, 250))) for s in run.acks)
    v = view(document(replace(run, stall=stall, acks=acks)))
    (fig,) = v.stall()
    assert isinstance(fig.p99, Pooled) and fig.p99.count == 3_000
    assert fig.p99.median == pytest.approx(48_000, rel=1e-3)  # 40 of 3,000: over 1 %
    assert all(isinstance(f.p99, Pooled) and f.p99.count == 1_250 for f in v.acks())


# -- a cached code beside batches, acknowledgements ---------------------------------------------

STALL = "cached single p99 beside 1,000-code miss batches ≤ 10 ms"


def ack(leases: bool) -> str:
    return ("status / revoke acknowledgement p99 ≤ 10 ms, 2 workers busy, lease_invalidation "
            + ("on" if leases else "off"))  # fmt: skip


def latency_targets(d: BenchDoc) -> dict[str, Any]:
    from load_tests.bench.summary import record_targets

    return {t.name: t for t in record_targets(d, view(d))
            if t.name == STALL or t.name.startswith("status / revoke")}  # fmt: skip


def test_the_stall_figure_is_the_median_of_its_rounds_and_one_tail_does_not_move_it() -> None:
    p99_ms = [6.0, 6.3, 90.0, 6.1, 6.2]  # one round caught a batch's stall

    def stalled(slot: StallSlot) -> float:
        return p99_ms[slot.round] * 1000

    d = document(simulate(rounds=5, stalled=stalled))
    (fig,) = view(d).stall()
    assert fig.subject == "1" and fig.p99.median == 6_200
    assert (fig.p99.low, fig.p99.high) == (6_000, 90_000)
    t = latency_targets(d)[STALL]
    assert t.value == pytest.approx(6.2) and t.ratio.median == pytest.approx(0.62)
    assert t.marks == ("rounds spread 1354.8% > 20%",) and t.met is None  # shown, not counted
    steady = latency_targets(document(simulate(rounds=5)))[STALL]
    assert steady.met is True and steady.limit == "10 ms"
    slow = latency_targets(document(simulate(rounds=5, stalled=lambda _: 12_000.0)))[STALL]
    assert slow.met is False and slow.value == pytest.approx(12.0)


def test_a_round_whose_single_codes_were_answered_wrong_marks_the_stall_figure() -> None:
    run = simulate()
    stall = tuple(replace(s, probe_errors=3) if s.round == 1 else s for s in run.stall)
    d = document(replace(run, stall=stall))
    t = latency_targets(d)[STALL]
    assert t.marks == ("round 2: 3 wrong answers",) and t.met is None
    assert "**(round 2: 3 wrong answers)**" in render(d, "hcgw-load bench")


def test_acknowledgement_targets_read_2_workers_with_leases_off_and_on() -> None:
    def acked(slot: AckSlot) -> float:  # leases: 9 ms on 2 workers, 2 ms without
        return {"1": 1_000.0, "2": 2_000.0, "1-leases": 4_000.0, "2-leases": 9_000.0}[
            slot.subject]  # fmt: skip

    d = document(simulate(acked=acked))
    figures = view(d).acks()
    assert [(f.workers, f.leases) for f in figures] == [(1, False), (1, True), (2, False),
                                                         (2, True)]  # fmt: skip
    ts = latency_targets(d)
    assert ts[ack(False)].value == pytest.approx(2.0) and ts[ack(False)].met is True
    assert ts[ack(True)].value == pytest.approx(9.0) and ts[ack(True)].met is True
    over = latency_targets(document(simulate(acked=lambda _: 15_000.0)))
    assert over[ack(True)].met is False and over[ack(False)].met is False
    text = render(d, "hcgw-load bench")
    assert "**the worst case is the lease time, 1 s**" in text
    assert ("| 2 workers, lease_invalidation | on | 1,200 | 3.00 (3.00–3.00) | "
            "9.00 (9.00–9.00) | 18.00 | 10,000/s | 0% / 0% |") in text  # fmt: skip


def test_a_refused_status_message_marks_its_acknowledgement_figure() -> None:
    run = simulate()
    acks = tuple(replace(s, refused=1) if (s.round, s.subject) == (0, "2") else s
                 for s in run.acks)  # fmt: skip
    t = latency_targets(document(replace(run, acks=acks)))[ack(False)]
    assert t.marks == ("round 1: 1 refused",) and t.met is None


def test_a_document_before_version_5_says_the_new_figures_were_not_measured() -> None:
    for old in (version_4(document()), version_3(document())):
        check_schema(old)
        v = view(old)
        assert v.stall() == [] and v.acks() == []
        ts = latency_targets(old)
        assert len(ts) == 3 and all(t.value is None and t.met is None for t in ts.values())
        text = render(old, "hcgw-load bench")
        assert "*Not measured in this run* (`--no-stall`, or a document before version 5)." in text
        assert "*Not measured in this run* (`--no-acks`, or a document before version 5)." in text
        assert f"| {STALL} | – | – (10 ms) | – | – | 1× | not measured |" in text
        summarise(old)
        assert old["stall"] == [] and old["acks"] == []


# -- the JSON ----------------------------------------------------------------------------------


def test_rounds_survive_the_json_unchanged() -> None:
    run = simulate(speed=sawtooth)
    assert run.open_loop and run.stall and run.acks
    back = rounds_from_json(json.loads(json.dumps(rounds_to_json(run))))
    assert back == run


def test_a_document_of_another_version_is_refused() -> None:
    d = document()
    check_schema(d)
    with pytest.raises(SchemaError, match="version 3 or 4 or 5"):
        check_schema(d | {"schema_version": 2})
    with pytest.raises(SchemaError):
        check_schema(d | {"schema": "hcgw-load-report"})


def test_the_page_written_again_from_the_json_is_the_same_page(tmp_path: object) -> None:
    from pathlib import Path

    from load_tests.bench.markdown import render
    from load_tests.cli import main

    d = document(simulate(speed=sawtooth))
    d["command"] = "hcgw-load bench"
    first = render(json.loads(json.dumps(d)), "hcgw-load bench")
    path = Path(str(tmp_path)) / "latest.json"
    path.write_text(json.dumps(d))
    out = Path(str(tmp_path)) / "BENCHMARKS.md"
    assert main(["bench", "--from-json", str(path), "--out", str(out)]) == 0
    assert out.read_text() == first
    old = Path(str(tmp_path)) / "old.json"
    old.write_text(json.dumps(d | {"schema_version": 2}))
    assert main(["bench", "--from-json", str(old), "--out", str(out)]) == 2


LATEST = Path(__file__).resolve().parents[1] / "load_tests" / "bench" / "latest.json"


def test_the_json_of_record_is_a_bench_document_key_for_key() -> None:
    doc = json.loads(LATEST.read_text())
    assert mismatches(doc, BenchDoc) == []
    summarise(doc)  # its derived sections computed again, from its rounds
    assert mismatches(doc, BenchDoc) == []


def test_benchmarks_md_is_the_page_of_the_json_of_record() -> None:
    from load_tests.bench.markdown import render

    doc = json.loads(LATEST.read_text())
    assert render(doc, doc["command"]) == (LATEST.parents[2] / "BENCHMARKS.md").read_text()


@pytest.mark.parametrize(
    ("cls", "record"),
    [(LimitSample, LimitSampleRecord), (Sample, SampleRecord), (Figure, FigureRecord),
     (LimitSummary, LimitSummaryRecord), (OpenLoopSample, OpenLoopSampleRecord),
     (StallSample, StallSampleRecord), (AckSample, AckSampleRecord)],
    ids=["limit-sample", "sample", "figure", "limit-summary", "open-loop-sample",
         "stall-sample", "ack-sample"],
)  # fmt: skip
def test_a_record_has_the_fields_of_its_dataclass(cls: Any, record: Any) -> None:
    names = {f.name for f in fields(cls)}
    assert record.__required_keys__ | record.__optional_keys__ == names
    # What a document may lack is what the dataclass has a default for (raw: read as given).
    defaulted = {f.name for f in fields(cls) if f.default is not MISSING or
                 f.default_factory is not MISSING} - {"raw"}  # fmt: skip
    assert record.__optional_keys__ == defaulted


# -- the compare report --------------------------------------------------------------------------


def test_compare_reports_the_working_tree_over_the_revision_per_scenario() -> None:
    from load_tests.bench.summary import compare_report

    d = document(compared(1.25, speed=sawtooth), builds={"base": "HEAD~1 (abc)"})
    report = compare_report(d, view(d))
    assert report.base == "HEAD~1 (abc)"
    assert len(report.rows) == 4
    for row in report.rows:
        # Head and base share a block: a slowdown hits both and the per-round ratios hold,
        # where the medians of the rates, each from whichever rounds were slow, need not.
        assert row.ratio.median == pytest.approx(1.25)
    assert any(row.head / row.base != pytest.approx(1.25, rel=0.1) for row in report.rows)


def test_the_compare_page_shows_each_ratio_with_its_range() -> None:
    from load_tests.bench.markdown import render

    d = document(compared(0.8), builds={"base": "HEAD~1 (abc)"})
    text = render(d, "hcgw-load bench --compare HEAD~1")
    assert "## Working tree ÷ HEAD~1 (abc)" in text
    assert "| 1 worker | batch of 100, cache miss | 12,000 | 9,600 | 0.800× | 0.800–0.800 |" in text
    assert "## Targets" not in text


# -- measurements others disturbed ---------------------------------------------------------------


def measured(others: list[float], busy_before: float = 0.0) -> tuple[list[int], object]:
    from load_tests.bench.interleave import RoundsConfig, again_if_disturbed

    calls: list[int] = []

    def measure() -> LimitSample:
        calls.append(1)
        return LimitSample(0, 0, 0, 1, 10_000, {}, busy_before=busy_before,
                           others_during=others[len(calls) - 1])  # fmt: skip

    out = again_if_disturbed(RoundsConfig(4, 3, 32, 60, retries=2), measure)
    return calls, out


def test_a_measurement_others_came_into_is_taken_again_and_says_so() -> None:
    calls, out = measured([0.3, 0.05, 0.0])
    assert len(calls) == 2
    assert isinstance(out, LimitSample) and out.retries == 1 and out.others_during == 0.05


def test_a_measurement_is_taken_again_at_most_retries_times() -> None:
    calls, out = measured([0.3, 0.3, 0.3, 0.0])
    assert len(calls) == 3 and isinstance(out, LimitSample) and out.retries == 2


def test_on_a_machine_busy_before_it_a_measurement_is_kept_and_marked_disturbed() -> None:
    calls, out = measured([0.3, 0.0], busy_before=0.5)
    assert len(calls) == 1
    limits = Limits((out,), SHARES)  # type: ignore[arg-type]
    assert limits.disturbed_at(0.5)


def test_others_share_of_the_machine_is_a_share() -> None:
    from load_tests.bench.neighbours import Others

    assert 0.0 <= Others().share() <= 1.0
