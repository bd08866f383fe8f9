"""Bench documents for the tests: a run of the real schedule on a machine whose speed drifts.

``speed(t)`` scales every rate measured at time ``t`` alike (the limits and the gateway): what
a busy host or a slowed virtual machine does. Each slot takes 4 s (a 3 s measurement and 1 s
between), so a test can place a slowdown between two measurements. Open-loop points (``open_loop``)
close every round as in a real run; ``latency`` gives each point's p99 and verdict in a round.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, cast

from load_tests.bench.compare import subject_key
from load_tests.bench.document import BenchDoc
from load_tests.bench.interleave import scenario as scenario_of
from load_tests.bench.rounds import LimitSlot, OpenLoopPoint, OpenLoopSlot, schedule
from load_tests.bench.samples import (
    SCHEMA,
    SCHEMA_VERSION,
    LimitSample,
    OpenLoopSample,
    Rounds,
    Sample,
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
LABELS = {"1": "1 worker", "2": "2 workers"}


# The open-loop point of a document (its target: p99 ≤ 5 ms at 50 % of the maximum).
POINTS = (OpenLoopPoint("1", "single code, cache hit", 0.5),)


def steady(_: float) -> float:
    return 1.0


def four_ms(_: OpenLoopSlot) -> tuple[float, str]:
    """Every point's p99 in every round: 4 ms, VALID."""
    return 4_000.0, "VALID"


def simulate(
    rates: Mapping[str, Mapping[str, float]] = RATES,
    *,
    rounds: int = 4,
    speed: Callable[[float], float] = steady,
    scenarios: tuple[str, ...] | None = None,
    open_loop: tuple[OpenLoopPoint, ...] = POINTS,
    latency: Callable[[OpenLoopSlot], tuple[float, str]] = four_ms,
) -> Rounds:
    names = scenarios or tuple(next(iter(rates.values())))
    points = tuple(p for p in open_loop if p.subject in rates)
    limits, samples, ols = [], [], []
    for n, slot in enumerate(schedule(list(rates), names, rounds, points)):
        start, end = 4.0 * n, 4.0 * n + 3
        k = speed((start + end) / 2)
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
    return Rounds(rounds, 3.0, tuple(limits), tuple(samples), tuple(ols))


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
    for key in run.subjects():
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
    return simulate(rates, rounds=rounds, speed=speed, open_loop=())


def version_3(doc: BenchDoc) -> BenchDoc:
    """``doc`` as version 3 wrote it: its open-loop points one run each, after the rounds, in
    the first deployment's entry (a point per round-0 sample of ``rounds.open_loop``)."""
    old: dict[str, Any] = json.loads(json.dumps(doc))
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
