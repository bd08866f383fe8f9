"""Running a bench's rounds (``rounds.schedule``) against servers that are all up at once.

Every subject (a deployment of a build) and the empty handler listen side by side for the
whole run, idle but for the one being measured, so a round can go from one to the next in a
second. A limit slot runs wrk against the empty handler twice (the better run counts), then
the raw signature calls of the gateway in this process (one core, key preloaded, best of
three short sub-rounds): a limit is what the machine can do at that moment, and a run on two
shared cores dips now and then with no one else busy (wrk and the server put on one core,
say). A gateway slot runs wrk against one subject, on new codes for a miss (the subject's
``Slices``, shared by every subject on its Redis).

An open-loop slot runs the harness at a constant rate against one subject: a fraction of the
maximum the same round measured for that scenario on it (the round's gateway blocks come
first), so a slow minute lowers the rate with the maximum. A stall slot (``stall``) and an
acknowledgement slot (``acks``) run wrk against one subject with a thread of this process
timing its own requests beside it; a subject measured only there (a deployment with
``lease_invalidation``: ``in_blocks`` false) is in no gateway block.

Before the rounds, ``warm_up`` runs every scenario once, for a second, on every subject: the
hit population is cached and every code path has run before anything is measured.

A measurement during which others took more than ``limits.OTHERS`` of the machine
(``neighbours``) is taken again, up to ``RoundsConfig.retries`` times, when the machine was
quiet before it: a neighbour came in during it. On a machine that stays busy (the wait for
quiet ran out) it is kept as it is and marked *disturbed*: trying again would only wait again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from load_tests.bench import hub, micro
from load_tests.bench.acks import measure as measure_acks
from load_tests.bench.limits import OTHERS, QUIET, RAW_CALL
from load_tests.bench.neighbours import Others
from load_tests.bench.rounds import (
    AckSlot,
    GatewaySlot,
    LimitSlot,
    OpenLoopPoint,
    OpenLoopSlot,
    StallSlot,
    schedule,
)
from load_tests.bench.samples import (
    AckSample,
    LimitSample,
    OpenLoopSample,
    Rounds,
    Sample,
    StallSample,
)
from load_tests.bench.stall import BATCH as STALL_BATCH
from load_tests.bench.stall import measure as measure_stall
from load_tests.corpus import Corpus
from load_tests.machine import Busy, wait_for_quiet
from load_tests.perf.acks import Signer, send_statuses
from load_tests.wrk import WrkRun, failures, run_wrk

EMPTY_BODY = b"\x93\xc4\x00\xc4\x00\xc4\x00"  # an envelope of three empty byte strings
RAW_SECONDS = 1.0  # per limit slot, over the gateway's signature calls
EMPTY_RUNS = 2  # wrk runs on the empty handler per limit slot, of half the measurement each
HIT = hub.SCENARIOS[0][0]  # single code, cache hit: the load of the acknowledgement slots
WARM_MESSAGES = 5  # status messages per acknowledged subject in the warm-up


@dataclass(frozen=True, slots=True)
class Subject:
    """A running gateway the rounds measure."""

    key: str
    label: str
    url: str
    workers: int
    slices: hub.Slices  # the codes its Redis has not seen yet
    pid: int | None = None  # its server's (the supervisor or gunicorn's master): for py-spy
    group: str = ""  # subjects of one group are measured back to back (one deployment's builds)
    leases: bool = False  # lease_invalidation on
    in_blocks: bool = True  # measured in the gateway blocks (else in the acknowledgement slots)


@dataclass(frozen=True, slots=True)
class RoundsConfig:
    rounds: int
    seconds: float
    connections: int
    max_wait_s: float
    retries: int = 2  # per measurement that others disturbed
    open_loop_seconds: float = 6.0  # per open-loop point (and 1 s of warm-up before it)
    stall_seconds: float = 6.0  # per stall measurement
    ack_seconds: float = 4.0  # per acknowledgement measurement


Measure = Callable[[], Sample]
Measured = TypeVar("Measured", Sample, LimitSample, OpenLoopSample, StallSample, AckSample)
Observe = Callable[[GatewaySlot, Measure], Sample]  # e.g. Redis memory around a measurement


def run_rounds(
    cfg: RoundsConfig,
    subjects: Sequence[Subject],
    scenarios: Sequence[str],
    corpus: Corpus,
    empty_url: str,
    workdir: Path,
    log: Callable[[str], None],
    *,
    zero: float,
    observe: Observe | None = None,
    open_loop: Sequence[OpenLoopPoint] = (),
    stall: Sequence[str] = (),
    acks: Sequence[str] = (),
    signer: Signer | None = None,
) -> Rounds:
    """Every slot of the schedule, in order; times in seconds from ``zero`` (monotonic). The
    subjects of one ``group`` (a deployment's builds) are measured back to back; the
    ``open_loop`` points, then a stall measurement on each subject of ``stall`` and an
    acknowledgement measurement on each of ``acks`` (messages signed by ``signer``) close
    every round."""
    by_key = {s.key: s for s in subjects}
    groups: dict[str, list[str]] = {}
    for s in subjects:
        if s.in_blocks:
            groups.setdefault(s.group or s.key, []).append(s.key)
    if acks and signer is None:
        raise ValueError("acknowledgement slots need a signer")
    raw_calls = {k: fn for k, fn in micro.raw_candidates(int(time.time())).items()
                 if k in RAW_CALL.values()}  # fmt: skip
    limits: list[LimitSample] = []
    samples: list[Sample] = []
    points: list[OpenLoopSample] = []
    stalls: list[StallSample] = []
    acked: list[AckSample] = []
    for slot in schedule(list(groups.values()), scenarios, cfg.rounds, open_loop, stall, acks):
        if isinstance(slot, StallSlot):
            stalled = again_if_disturbed(cfg, partial(stall_sample, cfg, slot, by_key[slot.subject],
                                                      corpus, workdir, zero))  # fmt: skip
            stalls.append(stalled)
            lat = stalled.latency_us
            log(f"round {slot.round + 1}, cached single codes beside batches of "
                f"{stalled.batch:,} new codes, {by_key[slot.subject].label}: p50 "
                f"{_ms(lat['p50'])}, p99 {_ms(lat['p99'])}, p99.9 {_ms(lat['p99_9'])} ms "
                f"({stalled.probes} codes, {stalled.probe_errors} wrong); batches "
                f"{stalled.codes_rate:,.0f} codes/s" + _context(stalled))  # fmt: skip
            continue
        if isinstance(slot, AckSlot):
            assert signer is not None
            ack = again_if_disturbed(cfg, partial(ack_sample, cfg, slot, by_key[slot.subject],
                                                  corpus, signer, workdir, zero))  # fmt: skip
            acked.append(ack)
            lat = ack.latency_us
            log(f"round {slot.round + 1}, status acknowledgement, {by_key[slot.subject].label}:"
                f" p50 {_ms(lat['p50'])}, p99 {_ms(lat['p99'])}, max {_ms(lat['max'])} ms "
                f"({ack.messages} messages, {ack.refused} refused); verifications "
                f"{ack.verify_rate:,.0f}/s" + _context(ack))  # fmt: skip
            continue
        if isinstance(slot, OpenLoopSlot):
            subject = by_key[slot.subject]
            maximum = next(s.ok_rate for s in samples if (s.round, s.subject, s.scenario)
                           == (slot.round, slot.subject, slot.scenario))  # fmt: skip

            def point(slot: OpenLoopSlot = slot, subject: Subject = subject,
                      maximum: float = maximum) -> OpenLoopSample:  # fmt: skip
                return open_loop_sample(cfg, slot, subject, corpus, maximum, workdir, zero)

            sample_ol = again_if_disturbed(cfg, point)
            points.append(sample_ol)
            lat = sample_ol.latency_us
            log(f"round {slot.round + 1}, open loop, {slot.scenario}, {subject.label}, "
                f"{slot.fraction:.0%} of {maximum:,.0f}/s: p50 {_ms(lat['p50'])}, p99 "
                f"{_ms(lat['p99'])}, p99.9 {_ms(lat['p99_9'])} ms, {sample_ol.verdict}"
                + _context(sample_ol))  # fmt: skip
            continue
        if isinstance(slot, LimitSlot):

            def limit_once(slot: LimitSlot = slot) -> LimitSample:
                return limit_sample(cfg, slot, empty_url, raw_calls, workdir, zero)

            limit = again_if_disturbed(cfg, limit_once)
            limits.append(limit)
            when = f"round {slot.round + 1}" if slot.round < cfg.rounds else "end"
            log(f"{when}, limits: empty {limit.empty:,.0f} req/s, "
                + ", ".join(f"{k} {v:,.0f}/s" for k, v in limit.raw.items())
                + _context(limit))  # fmt: skip
            continue
        subject = by_key[slot.subject]

        def measure(slot: GatewaySlot = slot, subject: Subject = subject) -> Sample:
            return gateway_sample(cfg, slot, subject, corpus, workdir, zero)

        def once(slot: GatewaySlot = slot, measure: Measure = measure) -> Sample:
            return observe(slot, measure) if observe else measure()

        sample = again_if_disturbed(cfg, once)
        samples.append(sample)
        log(f"round {slot.round + 1}, {slot.scenario}, {subject.label}: "
            f"{sample.codes_rate:,.0f} codes/s{_context(sample)}")  # fmt: skip
    return Rounds(cfg.rounds, cfg.seconds, tuple(limits), tuple(samples), tuple(points),
                  tuple(stalls), tuple(acked))  # fmt: skip


def _ms(us: int | None) -> str:
    return "–" if us is None else f"{us / 1000:.2f}"


def _context(m: Sample | LimitSample | OpenLoopSample | StallSample | AckSample) -> str:
    again = f", measured {m.retries + 1} times" if m.retries else ""
    return f" (busy before {m.busy_before:.0%}, others during {m.others_during:.0%}{again})"


def again_if_disturbed(cfg: RoundsConfig, measure: Callable[[], Measured]) -> Measured:
    """``measure()``, again while others came in during it on a machine quiet before it."""
    out = measure()
    for n in range(1, cfg.retries + 1):
        if out.others_during <= OTHERS or out.busy_before > QUIET:
            break
        out = replace(measure(), retries=n)
    return out


def limit_sample(
    cfg: RoundsConfig,
    slot: LimitSlot,
    empty_url: str,
    raw_calls: dict[str, Callable[[], object]],
    workdir: Path,
    zero: float,
) -> LimitSample:
    quiet = wait_for_quiet(cfg.max_wait_s)
    busy, others = Busy(), Others()
    start = time.monotonic()
    seconds = max(1.0, round(cfg.seconds / EMPTY_RUNS))
    runs = [empty_wrk(empty_url, seconds, cfg.connections, workdir)["ok_rate"]
            for _ in range(EMPTY_RUNS)]  # fmt: skip
    raw = micro.measure(raw_calls, RAW_SECONDS, rounds=3)
    end = time.monotonic()
    others_during = others.share()
    return LimitSample(
        round=slot.round,
        block=slot.block,
        start=round(start - zero, 3),
        end=round(end - zero, 3),
        empty=float(max(runs)),
        empty_runs=tuple(float(r) for r in runs),
        raw={k: float(v["best"]) for k, v in raw.items()},
        busy_before=quiet["busy_before"],
        busy_during=busy.done()["system_busy"],
        others_during=others_during,
        waited_s=quiet["waited_s"],
    )


def open_loop_sample(
    cfg: RoundsConfig,
    slot: OpenLoopSlot,
    subject: Subject,
    corpus: Corpus,
    maximum: float,
    workdir: Path,
    zero: float,
) -> OpenLoopSample:
    rate = max(1, round(maximum * slot.fraction))
    start = time.monotonic()
    run = hub.open_loop(subject.url, corpus, subject.slices, rate=rate,
                        traffic=scenario(slot.scenario)[2], seconds=cfg.open_loop_seconds,
                        workdir=workdir / "open-loop-corpus",
                        max_wait_s=cfg.max_wait_s)  # fmt: skip
    end = time.monotonic()
    return OpenLoopSample(
        round=slot.round,
        block=slot.block,
        subject=slot.subject,
        scenario=slot.scenario,
        fraction=slot.fraction,
        start=round(start - zero, 3),
        end=round(end - zero, 3),
        target_rate=float(rate),
        achieved=float(run["achieved"]),
        latency_us=dict(run["latency_us"]),
        latency_hist=run.get("latency_hist", ""),
        service_us=dict(run["service_us"]),
        verdict=run["verdict"],
        failed_checks=tuple(run["failed_checks"]),
        errors=float(run["errors"]),
        lateness_p99_us=run["lateness_p99_us"],
        busy_before=float(run["busy_before"]),
        busy_during=float(run["system_busy"]),
        others_during=float(run.get("others_during", 0.0)),
        waited_s=float(run["waited_s"]),
    )


def stall_sample(
    cfg: RoundsConfig, slot: StallSlot, subject: Subject, corpus: Corpus, workdir: Path,
    zero: float,
) -> StallSample:  # fmt: skip
    return measure_stall(slot, subject.url, corpus, subject.slices, seconds=cfg.stall_seconds,
                         budget=round(miss_budget(cfg.stall_seconds, STALL_BATCH,
                                                  subject.workers)),
                         workdir=workdir, max_wait_s=cfg.max_wait_s, zero=zero)  # fmt: skip


def ack_sample(
    cfg: RoundsConfig, slot: AckSlot, subject: Subject, corpus: Corpus, signer: Signer,
    workdir: Path, zero: float,
) -> AckSample:  # fmt: skip
    return measure_acks(slot, subject.url, corpus, subject.slices, signer,
                        workers=subject.workers, leases=subject.leases,
                        seconds=cfg.ack_seconds, workdir=workdir, max_wait_s=cfg.max_wait_s,
                        zero=zero)  # fmt: skip


def empty_wrk(url: str, seconds: float, connections: int, workdir: Path) -> WrkRun:
    """The empty-envelope POST on the empty handler under wrk, as on the gateway."""
    return run_wrk(url, "/v1/verify", [EMPTY_BODY], "application/msgpack", token=None,
                   seconds=seconds, connections=connections,
                   workdir=workdir / "wrk-empty")  # fmt: skip


def gateway_sample(
    cfg: RoundsConfig,
    slot: GatewaySlot,
    subject: Subject,
    corpus: Corpus,
    workdir: Path,
    zero: float,
    *,
    seconds: float | None = None,
    during: Callable[[], None] | None = None,
) -> Sample:
    _, batch, traffic = scenario(slot.scenario)
    length = cfg.seconds if seconds is None else seconds
    fig = hub.max_rate(
        subject.url,
        corpus,
        subject.slices,
        batch=batch,
        traffic=traffic,
        seconds=length,
        connections=cfg.connections,
        budget=round(miss_budget(length, batch, subject.workers)),
        workdir=workdir / "wrk",
        during=during,
        max_wait_s=cfg.max_wait_s if slot.round >= 0 else None,  # warm-up, profile: not counted
    )
    return Sample(
        round=slot.round,
        block=slot.block,
        subject=slot.subject,
        scenario=slot.scenario,
        ok_rate=float(fig["ok_rate"]),
        codes_rate=float(fig["codes_rate"]),
        p50_us=float(fig["latency_us"]["p50"]),
        p99_us=float(fig["latency_us"]["p99"]),
        errors=failures(fig["errors"]),
        wrapped=bool(fig["wrapped"]),
        **hub.around(fig, zero),
    )


def warm_up(
    cfg: RoundsConfig,
    subjects: Sequence[Subject],
    scenarios: Sequence[str],
    corpus: Corpus,
    empty_url: str,
    workdir: Path,
    acked: Sequence[str] = (),
    signer: Signer | None = None,
) -> None:
    """One second of every scenario on every subject, and of the empty handler: not kept. A
    subject in no gateway block gets the hit scenario alone (what keeps it busy in its
    acknowledgement slots), and every subject of ``acked`` a few ``status`` messages."""
    warm = RoundsConfig(cfg.rounds, 1.0, cfg.connections, max_wait_s=0.0)
    empty_wrk(empty_url, 1.0, cfg.connections, workdir)
    for subject in subjects:
        for name in scenarios if subject.in_blocks else (HIT,):
            gateway_sample(warm, GatewaySlot(-1, -1, subject.key, name), subject, corpus,
                           workdir, 0.0)  # fmt: skip
        if signer is not None and subject.key in acked:
            send_statuses(subject.url, signer, count=WARM_MESSAGES)


def scenario(name: str) -> tuple[str, int, str]:
    """``(name, codes per request (0: one code, bare), traffic)`` of a scenario by name."""
    for entry in hub.SCENARIOS:
        if entry[0] == name:
            return entry
    raise ValueError(f"no scenario {name!r}")


def miss_budget(seconds: float, batch: int, workers: int) -> float:
    # Enough new codes that wrk does not wrap: a bound on the gateway's miss rate on this class
    # of machine (single codes ~5.5k/s, batches ~12.5k codes/s per worker) over the run and
    # half a second, plus 60 %; what wrk did not send goes back (``Slices.give_back``). A run
    # that still wraps says so ("wrapped").
    per_second = (5_500 if batch == 0 else 12_500) * workers
    return per_second * (seconds + 0.5) * 1.6
