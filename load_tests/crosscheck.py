"""``hcgw-load crosscheck``: the same endpoint and bodies, driven by wrk and then by the harness.

Both run closed loops with the same number of connections for the same time. wrk is a C
generator that engineers trust; if the harness reaches much less than wrk *and its own CPU
says it was the bottleneck*, its closed-loop rate is its own ceiling, not the server's: the
result says so (exit 3). A gap its CPU does not explain, on a machine busy with other work, is
inconclusive (exit 7): ``agreement`` draws the conclusion, from the rates, each side's CPU and
the machine's busy share before and during each side. Latencies are service time to service
time. The command prints a summary for people; ``--json`` writes the evidence.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TypedDict

from load_tests import report as reports
from load_tests.agreement import Side, conclude, render
from load_tests.args import HANDLER, Subcommands, duration
from load_tests.bodies import body_for
from load_tests.corpus import load_corpus
from load_tests.machine import cpu_times
from load_tests.options import add_traffic_args, run_config
from load_tests.records import Status
from load_tests.runner import RunConfig, run
from load_tests.workload import draw_sequence
from load_tests.wrk import WrkErrors, WrkLatency, run_wrk

WRK_BODIES = 200_000  # wrk cycles through at most this many requests' bodies


class WrkSide(TypedDict):
    rate: float
    ok_rate: float
    latency_us: WrkLatency
    errors: WrkErrors
    argv: list[str]


class HarnessSide(TypedDict):
    rate: float
    ok_rate: float
    service_us: dict[str, float | None]  # min, mean, p50, p90, p99, p99_9, max
    verdict: Status
    generator_cpu: str | None  # its check's detail


class Crosscheck(TypedDict):
    """The result (``--json``): the conclusion, its evidence and each side's figures."""

    ok: bool
    verdict: str  # the conclusion
    exit_code: int
    agreement: float
    min_agreement: float
    connections: int
    seconds: float
    evidence: dict[str, object]  # agreement.Conclusion
    summary: str
    wrk: WrkSide
    harness: HarnessSide


def register(sub: Subcommands) -> None:
    c = sub.add_parser("crosscheck", help="drive the same endpoint with wrk, then the harness")
    add_traffic_args(c)
    c.add_argument("--duration", type=duration, default=5.0)
    c.add_argument("--connections", type=int, default=32, help="wrk's and the harness's, total")
    c.add_argument("--min-agreement", type=float, default=0.8,
                   help="harness/wrk rate below this: the harness is the bottleneck")  # fmt: skip
    c.add_argument("--json", help="write the result here")
    c.set_defaults(**{HANDLER: crosscheck_command})


def wrk_bodies(cfg: RunConfig, count: int) -> tuple[str, list[bytes]]:
    """(content type, bodies) of the first ``count`` requests of the harness's own sequence."""
    corpus = load_corpus(cfg.corpus, limit=cfg.corpus_limit)
    per = cfg.target.codes_per_request
    draws = draw_sequence(corpus.codes, cfg.repeat, count * per)
    bodies, ctype = [], "application/octet-stream"
    for slot in range(count):
        codes = [corpus.codes[draws[slot * per + t]].code for t in range(per)]
        ctype, body = body_for(cfg.target, codes)
        bodies.append(body)
    return ctype, bodies


class _Machine:
    """The machine's busy share (all cores) over an interval, from /proc/stat."""

    def __init__(self) -> None:
        self._start = cpu_times()

    def share(self) -> float:
        busy, total = cpu_times()
        d = total - self._start[1]
        return (busy - self._start[0]) / d if d > 0 else 0.0


def _quiet_second() -> float:
    """How busy the machine is with nothing of ours running: others' work."""
    machine = _Machine()
    time.sleep(1.0)
    return machine.share()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def crosscheck(cfg: RunConfig, *, min_agreement: float = 0.8) -> Crosscheck:
    connections = cfg.connections * cfg.procs
    count = min(WRK_BODIES, max(1, len(load_corpus(cfg.corpus, limit=cfg.corpus_limit).codes)))
    ctype, bodies = wrk_bodies(cfg, count)
    wrk_before = _quiet_second()
    machine, cpu_before = _Machine(), _children_cpu()
    with tempfile.TemporaryDirectory(prefix="hcgw-crosscheck-") as tmp:
        wrk = run_wrk(
            cfg.target.url,
            cfg.target.request_path,
            bodies,
            ctype,
            token=cfg.target.token,
            seconds=cfg.duration_s,
            connections=connections,
            workdir=Path(tmp),
            cpus=cfg.cpus,
            timeout_s=cfg.timeout_s,
        )
    wrk_during = machine.share()
    wrk_cpu = (_children_cpu() - cpu_before) / max(wrk["duration_us"] / 1e6, 1e-3)
    harness_before = _quiet_second()
    machine = _Machine()
    doc = reports.build(run(cfg))
    harness_during = machine.share()
    m = doc["phases"]["measured"]
    svc = m["histograms"]["service"]
    lat = wrk["latency_us"]
    result = conclude(
        Side(wrk["rate"], wrk["ok_rate"], lat["p50"], lat["p99"], wrk_cpu, wrk_before,
             wrk_during),
        Side(m["rate"], m["ok_rate"], svc["p50"], svc["p99"],
             doc["generator"]["cpu_share_max"], harness_before, harness_during),
        min_agreement=min_agreement,
        harness_saturated=doc["verdict"]["status"] == "GENERATOR_SATURATED",
        wrk_command=" ".join(a for a in wrk["argv"] if a[:2] in ("-t", "-c", "-d")),
    )  # fmt: skip
    return {
        "ok": int(result.exit_code) == 0 and doc["verdict"]["status"] != "INVALID",
        "verdict": result.conclusion,
        "exit_code": int(result.exit_code),
        "agreement": result.ratio,
        "min_agreement": min_agreement,
        "connections": connections,
        "seconds": cfg.duration_s,
        "evidence": asdict(result),
        "summary": render(result),
        "wrk": {
            "rate": round(wrk["rate"], 1),
            "ok_rate": round(wrk["ok_rate"], 1),
            "latency_us": wrk["latency_us"],
            "errors": wrk["errors"],
            "argv": wrk["argv"],
        },
        "harness": {
            "rate": round(m["rate"], 1),
            "ok_rate": round(m["ok_rate"], 1),
            "service_us": {k: svc[k] for k in ("min", "mean", "p50", "p90", "p99", "p99_9", "max")},
            "verdict": doc["verdict"]["status"],
            "generator_cpu": next(
                (c["detail"] for c in doc["verdict"]["checks"] if c["name"] == "generator_cpu"),
                None,
            ),
        },
    }


def crosscheck_command(args: argparse.Namespace, argv: list[str]) -> int:
    args.mode, args.rate, args.steps, args.warmup = "closed", None, None, 1.0
    args.drain, args.metrics_url, args.generator_stall = 5.0, None, None
    args.connections = max(1, args.connections // max(1, args.procs))
    # No hub counters: the comparison is of rates, and wrk's run has warmed the cache anyway.
    cfg = replace(run_config(args), metrics_url=None)
    result = crosscheck(cfg, min_agreement=args.min_agreement)
    print(result["summary"])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str) + "\n")
    if result["exit_code"] == 0 and not result["ok"]:
        return 3  # the harness's own run was not valid
    return int(result["exit_code"])
