"""The open-loop plan: intended send times, split across generator processes without loss."""

from __future__ import annotations

import pytest

from load_tests.schedule import NS, Schedule, Step, parse_steps


def test_constant_rate_slot_i_is_intended_at_i_over_rate() -> None:
    plan = Schedule.constant(1000, 2)
    assert plan.count == 2000
    assert [plan.offset_ns(i) for i in (0, 1, 999, 1999)] == [
        0,
        1_000_000,
        999_000_000,
        1_999_000_000,
    ]


def test_intended_times_do_not_depend_on_anything_but_the_plan() -> None:
    # Two plans built apart give the same times: nothing observed during a run can move them.
    a, b = Schedule.constant(333, 3), Schedule.constant(333, 3)
    assert [a.offset_ns(i) for i in range(a.count)] == [b.offset_ns(i) for i in range(b.count)]


def test_fractional_rate_rounds_slot_count_up_and_stays_inside_the_duration() -> None:
    plan = Schedule.constant(2.5, 1)
    assert plan.count == 3
    assert all(plan.offset_ns(i) < NS for i in range(plan.count))


@pytest.mark.parametrize("procs", [1, 2, 3, 7])
def test_k_generators_taking_every_kth_slot_reproduce_the_single_plan(procs: int) -> None:
    plan = Schedule([Step(1000, 1), Step(3000, 0.5)])
    merged = sorted(slot for j in range(procs) for slot in plan.slots(j, procs))
    assert merged == list(plan.slots(0, 1))
    for j in range(procs):
        owned = [i for i, _ in plan.slots(j, procs)]
        assert all(i % procs == j for i in owned)


def test_steps_follow_each_other_at_their_own_rates() -> None:
    plan = Schedule(parse_steps("100:1s,200:2s"))
    assert plan.count == 100 + 400
    assert plan.offset_ns(100) == NS  # the first slot of the second step starts it
    assert plan.offset_ns(101) == NS + NS // 200
    assert plan.count_between(0, NS) == 100
    assert plan.count_between(NS, 2 * NS) == 200
    assert plan.count_between(2 * NS, 3 * NS) == 200
    assert (
        plan.rate_at(NS // 2) == 100 and plan.rate_at(2 * NS) == 200 and plan.rate_at(3 * NS) == 0
    )


def test_per_second_targets_add_up_to_the_plan() -> None:
    plan = Schedule(parse_steps("7:1.5s,13:2.5s"))
    assert sum(plan.count_between(s * NS, (s + 1) * NS) for s in range(4)) == plan.count


def test_poisson_arrivals_keep_the_mean_rate_are_ordered_and_seeded() -> None:
    plan = Schedule.constant(2000, 5, poisson_seed=42)
    offsets = [plan.offset_ns(i) for i in range(plan.count)]
    assert plan.count == 10_000
    assert offsets == sorted(offsets)
    assert offsets[-1] <= 5 * NS
    assert plan.count_between(0, 5 * NS + 1) == plan.count
    assert abs(offsets[-1] / NS - 5.0) < 0.25  # mean gap 1/rate: the last lands near the end
    again = Schedule.constant(2000, 5, poisson_seed=42)
    assert [again.offset_ns(i) for i in range(100)] == offsets[:100]


@pytest.mark.parametrize("text", ["", "100", "x:1s", "100:-1s"])
def test_bad_steps_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"step|rate"):
        Schedule(parse_steps(text))
