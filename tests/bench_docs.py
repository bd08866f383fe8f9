"""Bench documents for the tests: a run of the real schedule on a machine whose speed drifts.

``speed(t)`` scales every rate measured at time ``t`` alike (the limits and the gateway): what
a busy host or a slowed virtual machine does. Each slot takes 4 s (a 3 s measurement and 1 s
between), so a test can place a slowdown between two measurements. Open-loop points (``open_loop``)
close every round as in a real run; ``latency`` gives each point's p99 and verdict in a round.
After them come the stall measurement on each subject of ``stall`` and the acknowledgement
measurement on each of ``acks`` ("2-leases": 2 workers, lease_invalidation on), whose p99s
``stalled`` and ``acked`` give.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, cast

from load_tests.bench.compare import subject_key
from load_tests.bench.document import BenchDoc
from load_tests.bench.interleave import scenario as scenario_of
from load_tests.bench.rounds import (
    AckSlot,
    LimitSlot,
    OpenLoopPoint,
    OpenLoopSlot,
    StallSlot,
    schedule,
)
from load_tests.bench.samples import (
    SCHEMA,
    SCHEMA_VERSION,
    AckSample,
    LimitSample,
    OpenLoopSample,
    Rounds,
    Sample,
    StallSample,
    rounds_to_json,
)

EMPTY = 20_000.0
RAW = {"Ed25519/libsodium": 30_000.0, "ES256/cryptography": 10_000.0}
SHARES = {"Ed25519": 0.5, "ES256": 0.5}  # the raw mix: 1 / (0.5/30k + 0.5/10k) = 15,000/s
RATES = {  # requests/s of each subject at speed 1
    "1": {"single code, cache hit": 12_000.0, "single code, cache miss": 5_000.0,
          "batch of 100, cache hit": 1_000.0, "batch of 100, cache miss": 120.0},
    "2": {"single code, cache hit": 18_000.0, "single code, cache miss": 8_000.0,
          "batch of 100, cache hit": 1_800.0, "batch of 100, cache miss": 200.0},
}  # fmt: skip
LABELS = {"1": "1 worker", "2": "2 workers", "1-leases": "1 worker, lease_invalidation",
          "2-leases": "2 workers, lease_invalidation"}  # fmt: skip
ACKED = ("1", "2", "1-leases", "2-leases")  # the acknowledgement slots' deployments


# The open-loop point of a document (its target: p99 ≤ 5 ms at 50 % of the maximum).
POINTS = (OpenLoopPoint("1", "single code, cache hit", 0.5),)


def steady(_: float) -> float:
    return 1.0


def four_ms(_: OpenLoopSlot) -> tuple[float, str]:
    """Every point's p99 in every round: 4 ms, VALID."""
    return 4_000.0, "VALID"


def stall_6ms(_: StallSlot) -> float:
    """A cached single code's p99 beside the batches, every round: 6 ms."""
    return 6_000.0


def acks_8ms(_: AckSlot) -> float:
    """Every acknowledgement p99, every round: 8 ms."""
    return 8_000.0


def simulate(
    rates: Mapping[str, Mapping[str, float]] = RATES,
    *,
    rounds: int = 4,
    speed: Callable[[float], float] = steady,
    scenarios: tuple[str, ...] | None = None,
    open_loop: tuple[OpenLoopPoint, ...] = POINTS,
    latency: Callable[[OpenLoopSlot], tuple[float, str]] = four_ms,
    stall: tuple[str, ...] = ("1",),
    stalled: Callable[[StallSlot], float] = stall_6ms,
    acks: tuple[str, ...] = ACKED,
    acked: Callable[[AckSlot], float] = acks_8ms,
) -> Rounds:
    names = scenarios or tuple(next(iter(rates.values())))
    points = tuple(p for p in open_loop if p.subject in rates)
    limits, samples, ols, stalls, ack_samples = [], [], [], [], []
    for n, slot in enumerate(schedule(list(rates), names, rounds, points, stall, acks)):
        start, end = 4.0 * n, 4.0 * n + 3
        k = speed((start + end) / 2)
        if isinstance(slot, StallSlot):
            us = round(stalled(slot))
            stalls.append(StallSample(slot.round, slot.block, slot.subject, start, end, 1000, 4,
                                      9_000.0 * k, 200.0, 540,
                                      {"p50": 700, "p90": 2000, "p99": us,
                                       "p99_9": us * 2, "max": us * 3},
                                      {"p50": 600, "p99": us // 2, "max": us}))  # fmt: skip
            continue
        if isinstance(slot, AckSlot):
            us = round(acked(slot))
            ack_samples.append(AckSample(slot.round, slot.block, slot.subject,
                                         int(slot.subject[0]), slot.subject.endswith("-leases"),
                                         start, end, 16, 300,
                                         {"p50": 3000, "p90": 5000, "p99": us, "max": us * 2},
                                         10_000.0 * k))  # fmt: skip
            continue
        if isinstance(slot, OpenLoopSlot):
            p99, verdict = latency(slot)
            rate = rates[slot.subject][slot.scenario] * k * slot.fraction
            ols.append(OpenLoopSample(slot.round, slot.block, slot.subject, slot.scenario,
                                      slot.fraction, start, end, rate, rate,
                                      {"p50": 900, "p90": 1500, "p99": round(p99),
                                       "p99_9": round(p99 * 1.5), "max": round(p99 * 2)},
                                      {"p50": 500, "p99": round(p99 / 2), "max": round(p99)},
                                      verdict))  # fmt: skip
            continue
        if isinstance(slot, LimitSlot):
            limits.append(LimitSample(slot.round, slot.block, start, end, EMPTY * k,
                                      {c: r * k for c, r in RAW.items()}))  # fmt: skip
            continue
        per = scenario_of(slot.scenario)[1] or 1
        ok = rates[slot.subject][slot.scenario] * k
        samples.append(Sample(slot.round, slot.block, slot.subject, slot.scenario, start, end,
                              ok, ok * per, 1000.0, 3000.0))  # fmt: skip
    return Rounds(rounds, 3.0, tuple(limits), tuple(samples), tuple(ols), tuple(stalls),
                  tuple(ack_samples))  # fmt: skip


def peers_micro(rounds: int = 5) -> dict[str, Any]:
    def fig(rate: float) -> dict[str, Any]:
        per = [rate * (1 + 0.01 * i) for i in range(rounds)]
        return {"best": max(per), "median": sorted(per)[rounds // 2], "per_round": per}

    group = {"hcgw core (HCM/1)": fig(20_000), "PyJWT (JWS)": fig(10_000),
             "joserfc (JWS)": fig(12_000)}  # fmt: skip
    return {"raw": {c: fig(r) for c, r in RAW.items()},
            "peers": {"Ed25519": group, "ES256": group}}  # fmt: skip


def document(run: Rounds | None = None, *, builds: Mapping[str, str] | None = None,
             **settings: Any) -> BenchDoc:  # fmt: skip
    """A whole bench document around ``run`` (default: ``simulate()``): the sections the page
    is computed from, some of them shorter than a real run's (``cast``)."""
    run = run or simulate()
    build_labels = builds or {"head": "working tree"}
    gateway: dict[str, Any] = {}
    for key in dict.fromkeys([*run.subjects(), *(s.subject for s in run.acks)]):
        deployment, _, build = key.partition("@")
        label = LABELS.get(deployment, deployment) + (f" @ {build_labels[build]}" if build else "")
        gateway[key] = {"label": label, "workers": int(deployment[0]), "server": "hcgw",
                        "store": "redis", "build": build or "head", "scenarios": {}}  # fmt: skip
    names = list(dict.fromkeys(s.scenario for s in run.samples))
    return cast(BenchDoc, {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "mode": "compare" if builds else "record",
        "started_at": "2026-12-01T00:00:00+00:00",
        "elapsed_s": 100,
        "machine": {"cpu": "x", "cores": 2, "affinity": [0, 1], "memory_gib": 1, "os": "Linux",
                    "python": "3.11", "loadavg": [0, 0, 0], "versions": {}, "wrk": "wrk"},
        "settings": {"seconds": run.seconds, "rounds": run.rounds, "connections": 32,
                     "wrk_threads": 1, "scenarios": names, "max_wait_s": 60,
                     "max_spread": 0.2, "max_drift": 0.2, **settings},
        "builds": [{"name": k, "label": v, "commit": None}
                   for k, v in {**build_labels, "head": "working tree"}.items()],
        "micro": None if builds else peers_micro(),
        "corpus": {"valid_algs": dict(SHARES), "codes": 1000, "codes_used": 0},
        "rounds": rounds_to_json(run),
        "gateway": gateway,
    })  # fmt: skip


def compared(ratio: float, *, rounds: int = 4, speed: Callable[[float], float] = steady) -> Rounds:
    """Subject "1" of two builds: the working tree ``ratio`` times the revision's rates."""
    base = RATES["1"]
    rates = {subject_key("1", "base"): base,
             subject_key("1", "head"): {k: v * ratio for k, v in base.items()}}  # fmt: skip
    return simulate(rates, rounds=rounds, speed=speed, open_loop=(), stall=(), acks=())


def version_4(doc: BenchDoc) -> BenchDoc:
    """``doc`` as version 4 wrote it: no stall or acknowledgement measurements, nor the
    deployments with lease_invalidation."""
    old: dict[str, Any] = json.loads(json.dumps(doc))
    for section in ("stall", "acks"):
        old["rounds"].pop(section, None)
        old.pop(section, None)
    old["gateway"] = {k: g for k, g in old["gateway"].items() if not k.endswith("-leases")}
    for setting in ("stall_seconds", "ack_seconds"):
        old["settings"].pop(setting, None)
    old["schema_version"] = 4
    return cast(BenchDoc, old)


def version_3(doc: BenchDoc) -> BenchDoc:
    """``doc`` as version 3 wrote it: its open-loop points one run each, after the rounds, in
    the first deployment's entry (a point per round-0 sample of ``rounds.open_loop``)."""
    old: dict[str, Any] = json.loads(json.dumps(version_4(doc)))
    points = old["rounds"].pop("open_loop", [])
    old["gateway"]["1"]["open_loop"] = [
        {"traffic": p["scenario"], "fraction": p["fraction"], "target_rate": p["target_rate"],
         "achieved": p["achieved"], "latency_us": p["latency_us"], "service_us": p["service_us"],
         "lateness_p99_us": None, "verdict": p["verdict"], "failed_checks": [],
         "hit_ratio": {"expected": None, "observed": None}, "errors": 0.0, "system_busy": 0.5,
         "loadavg_before": 0.0, "busy_before": 0.0, "waited_s": 0.0}
        for p in points if p["round"] == 0
    ]  # fmt: skip
    old["schema_version"] = 3
    return cast(BenchDoc, old)
