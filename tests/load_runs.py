"""Synthetic runs: what the generators would have shipped, for tests of the report and verdict.

``run_data`` builds a :class:`RunData` second by second from (intended, sent, done) times, as
the coordinator merges them, over a tiny corpus in the documented format: one step or several,
a warm-up, a stall, answers of another status, seconds that fell short of their plan.
"""

from __future__ import annotations

import collections
import json
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgpack

from load_tests.bodies import Target
from load_tests.generator import Result, Second
from load_tests.histograms import HistogramSet
from load_tests.runner import RunConfig, RunData
from load_tests.schedule import NS, Step
from load_tests.workload import RepeatModel

RATE = 100
ANSWER_NS = 500_000  # every answer comes 0.5 ms after its send
ERROR_BODIES = {"401": "unauthenticated", "404": "not_found", "503": "unavailable"}


def write_corpus(path: Path, n: int = 50) -> None:
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(
        json.dumps({"format": "hcgw-corpus", "version": 1, "client": {"token": "t"}})
    )
    with open(path / "codes.msgpack", "wb") as f:
        for i in range(n):
            item = {"code": i.to_bytes(2, "big"), "iss": "440000",
                    "expect": {"valid": True, "reason": None, "colour": "green"}}  # fmt: skip
            f.write(msgpack.packb(item, use_bin_type=True))


def second(
    triples: Sequence[tuple[int, int, int]], *, status: str = "200", **counts: int
) -> Second:
    """One merged second from (intended, sent, done) times in ns, as generators record them."""
    h = HistogramSet()
    for intended, sent, done in triples:
        h["latency"].record_ns(done - intended)
        h["service"].record_ns(done - sent)
        h["lateness"].record_ns(sent - intended)
        h["gen_lag"].record_ns(sent - intended)
    h["loop_lag"].record_ns(200_000)
    n = len(triples)
    c = collections.Counter(
        {"sent": n, "completed": n, "codes_sent": n, "bytes_sent": 120 * n,
         "bytes_received": 300 * n, **counts}
    )  # fmt: skip
    codes = collections.Counter({f"{status} {ERROR_BODIES[status]}": n} if status != "200" else {})
    return Second(procs=1, hist=h, counts=c, status=collections.Counter({status: n}),
                  errors=collections.Counter(), error_codes=codes)  # fmt: skip


def run_data(
    tmp_path: Path,
    *,
    steps: Sequence[tuple[float, float]] = ((RATE, 2),),
    warmup_s: int = 1,
    stall_ms: int = 0,
    lose: int = 0,
    status: str = "200",
    short: Mapping[int, int] | None = None,
) -> RunData:
    """A run of ``steps`` (rate, seconds) after ``warmup_s`` at the first rate. ``stall_ms``: the
    server stalls that long at the start of the last second; ``short``: second → sends missed."""
    write_corpus(tmp_path / "corpus")
    cfg = RunConfig(
        target=Target("http://127.0.0.1:1", "t"),
        corpus=str(tmp_path / "corpus"),
        steps=tuple(Step(rate, seconds) for rate, seconds in steps),
        warmup_s=warmup_s,
        duration_s=sum(seconds for _, seconds in steps),
        repeat=RepeatModel(zipf_s=0, population=10),
        check_every=0,
    )
    schedule = cfg.schedule()
    assert schedule is not None
    short = short or {}
    last = round(cfg.total_s) - 1
    stall_end = last * NS + stall_ms * 1_000_000
    seconds, by_phase = {}, collections.Counter[str]()
    for s in range(round(cfg.total_s)):
        planned = schedule.count_between(s * NS, (s + 1) * NS)
        triples = []
        for i in range(planned - short.get(s, 0)):
            intended = s * NS + i * NS // planned
            # The one connection is held during the stall, so requests planned meanwhile
            # leave when it ends.
            late = s == last and intended < stall_end
            sent = stall_end if late else intended + 50_000
            triples.append((intended, sent, sent + ANSWER_NS))
        seconds[s] = second(triples, status=status)
        by_phase["warmup" if s < warmup_s else "measured"] += len(triples)
    seconds[last].counts["completed"] -= lose
    results: list[Result] = [{"sent_by_phase": dict(by_phase), "unsent": sum(short.values()),
                "cpu_measured_us": 400_000, "measured_intervals": 2}]  # fmt: skip
    draws = array("I", [i % 10 for i in range(schedule.count)])
    return RunData(cfg, seconds, results, draws, {}, 1_700_000_000.0, cfg.total_s + 0.1)
