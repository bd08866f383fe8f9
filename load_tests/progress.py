"""The live progress line, one a second on stderr: which phase, how far, and how it goes.

    warm-up   1/12 s  sent 200 of 200  answered 200  p50 1.23  p99 3.75  max 8.69 ms  ...
    measured  7/12 s  sent 400 of 400  answered 399  p50 1.31  p99 4.02  max 9.10 ms  ...
    drain    13 s     answered 3  in flight 0  queued 0  errors 0

The phase goes by the second (answers by the second they arrived, as in the report); after
the plan's last second only answers can arrive, so the drain shows no plan to compare with.
"""

from __future__ import annotations

from load_tests.generator import Second
from load_tests.schedule import NS, Schedule
from load_tests.units import count, ms


def progress_line(
    second: int, s: Second, warmup_s: int, total_s: float, schedule: Schedule | None
) -> str:
    c, h = s.counts, s.hist
    lat = h["latency"].summary()
    errors = sum(s.errors.values()) + sum(v for k, v in s.status.items() if k != "200")
    elapsed, total = second + 1, round(total_s)
    tail = f"in flight {c['inflight']}  queued {c['queued']}  errors {count(errors)}"
    if second >= total:
        return f"{'drain':<9} {elapsed} s{'':<4} answered {count(c['completed'])}  {tail}"
    phase = "warm-up" if second < warmup_s else "measured"
    sent = f"sent {count(c['sent'])}"
    if schedule is not None:
        sent += f" of {count(schedule.count_between(second * NS, (second + 1) * NS))}"
    late = h["lateness"].summary()["p99"]
    return (
        f"{phase:<9} {elapsed:>{len(str(total))}}/{total} s  {sent}  answered "
        f"{count(c['completed'])}  "
        f"p50 {ms(lat['p50'])}  p99 {ms(lat['p99'])}  max {ms(lat['max'])} ms  "
        f"late p99 {ms(late)} ms  {tail}"
    )
