"""The harness proves its own accounting (``hcgw-load selftest``), as wrk2's ^Z demonstration does.

1. **A server stall is charged to the server.** ``serve-stall`` freezes for ``S`` every second
   and logs each stall's start and end on CLOCK_MONOTONIC. An open-loop run at rate ``R`` with
   few connections must then show, per stall, about ``R × S / 2`` requests whose latency from the
   intended send time exceeds ``S / 2`` (those planned in the stall's first half), while their
   service time (from the actual send, what a closed-loop tool reports) shows at most one per
   connection; and the run stays valid, since the generator kept its schedule.
2. **A generator stall is the generator's.** The same run against a server that never stalls,
   with the generator's own loop blocked on purpose, must be judged ``GENERATOR_SATURATED``
   (exit code 3): the harness refuses to blame the server for its own lateness.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import msgpack

from load_tests import report as reports
from load_tests.args import HANDLER, Subcommands, duration
from load_tests.bodies import Target
from load_tests.histograms import Histogram
from load_tests.processes import reference, running
from load_tests.records import Report, Status
from load_tests.runner import RunConfig, RunData, run
from load_tests.schedule import NS, Step
from load_tests.verdict import ExitCode
from load_tests.workload import RepeatModel


@dataclass(frozen=True, slots=True)
class SelfTestConfig:
    rate: float = 1000.0
    stall_s: float = 0.3
    every_s: float = 1.0
    warmup_s: int = 1
    duration_s: float = 3.0
    connections: int = 8


DEFAULTS = SelfTestConfig()


def register(sub: Subcommands) -> None:
    s = sub.add_parser("selftest", help="prove the open-loop accounting (stalling server)")
    s.add_argument("--rate", type=float, default=1000.0)
    s.add_argument("--stall", type=duration, default=0.3)
    s.add_argument("--duration", type=duration, default=3.0)
    s.add_argument("--connections", type=int, default=8)
    s.add_argument("--json", help="write the result here")
    s.set_defaults(**{HANDLER: command})


def command(args: argparse.Namespace, argv: list[str]) -> int:
    result = selftest(
        SelfTestConfig(
            rate=args.rate,
            stall_s=args.stall,
            duration_s=args.duration,
            connections=args.connections,
        )
    )
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0 if result["ok"] else int(ExitCode.INVALID_RUN)


def write_dummy_corpus(path: Path, n: int = 64) -> Path:
    """A corpus in the documented format whose codes are opaque bytes: the reference servers
    answer anything, so the self-test needs no gateway and no simulator."""
    path.mkdir(parents=True, exist_ok=True)
    manifest = {"format": "hcgw-corpus", "version": 1, "client": {"id": "self-test", "token": ""}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with open(path / "codes.msgpack", "wb") as f:
        for i in range(n):
            expect = {"valid": True, "reason": None, "colour": "green"}
            item = {"code": i.to_bytes(4, "big"), "iss": "000000", "expect": expect}
            f.write(msgpack.packb(item, use_bin_type=True))
    return path


def run_config(cfg: SelfTestConfig, url: str, corpus: Path, **over: Any) -> RunConfig:
    base = RunConfig(
        target=Target(url, None, path="/v1/verify"),
        corpus=str(corpus),
        steps=(Step(cfg.rate, cfg.duration_s),),
        warmup_s=cfg.warmup_s,
        duration_s=cfg.duration_s,
        connections=cfg.connections,
        repeat=RepeatModel(zipf_s=0),
        check_every=0,
        drain_s=5.0,
    )
    return dataclasses.replace(base, **over)


class StallProof(TypedDict):
    """Part 1: a server stall is charged to the server (``--json`` writes these)."""

    ok: bool
    checks: dict[str, bool]
    stalls: int
    threshold_us: int
    expected_above: int
    latency_above: int
    service_above: int
    latency_max_us: int | None
    service_max_us: int | None
    verdict: Status


class GeneratorProof(TypedDict):
    """Part 2: a generator stall is the generator's."""

    ok: bool
    verdict: Status
    exit_code: int
    failed_checks: list[str]


class SelfTestResult(TypedDict):
    ok: bool
    server_stall: StallProof
    generator_stall: GeneratorProof


def stall_proof(
    data: RunData, doc: Report, stalls: list[tuple[int, int]], cfg: SelfTestConfig
) -> StallProof:
    """Compare the measured phase's histograms with what the logged stalls must produce."""
    start = data.t0_ns + cfg.warmup_s * NS  # the measured phase holds answers from here on
    stop = data.t0_ns + round((cfg.warmup_s + cfg.duration_s) * NS)  # the plan's last slot
    threshold_ns = round(cfg.stall_s * NS / 2)
    counted = [(s, e) for s, e in stalls if start <= e and s < stop]
    # Planned in [s, min(e - T, stop)): answered at about e, so later than T after their time.
    expected = sum(cfg.rate * max(0, min(e - threshold_ns, stop) - s) / NS for s, e in counted)
    hists = doc["phases"]["measured"]["histograms"]
    above = {
        kind: Histogram.decode({"blob": hists[kind]["histoblob"]}).count_above_us(
            threshold_ns // 1000
        )
        for kind in ("latency", "service")
    }
    longest = max((e - s for s, e in counted), default=0) // 1000
    checks = {
        "stalls_seen": len(counted) >= 1,
        "latency_charges_each_stall": abs(above["latency"] - expected)
        <= 0.25 * expected + cfg.connections * len(counted) + 10,
        "service_time_hides_it": above["service"] <= cfg.connections * len(counted) + 5,
        "latency_reaches_the_stall": (hists["latency"]["max"] or 0) >= 0.8 * longest,
        "run_stays_valid": doc["verdict"]["valid"],
    }
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "stalls": len(counted),
        "threshold_us": threshold_ns // 1000,
        "expected_above": round(expected),
        "latency_above": above["latency"],
        "service_above": above["service"],
        "latency_max_us": hists["latency"]["max"],
        "service_max_us": hists["service"]["max"],
        "verdict": doc["verdict"]["status"],
    }


def selftest(cfg: SelfTestConfig = DEFAULTS, workdir: Path | None = None) -> SelfTestResult:
    with tempfile.TemporaryDirectory(prefix="hcgw-selftest-") as tmp:
        base = workdir or Path(tmp)
        corpus = write_dummy_corpus(base / "corpus")
        log = base / "stalls.log"
        log.unlink(missing_ok=True)
        stall_server = reference(
            "stall",
            base,
            "--stall",
            f"{cfg.stall_s}",
            "--every",
            f"{cfg.every_s}",
            "--log",
            str(log),
        )
        with running(stall_server):
            data = run(run_config(cfg, stall_server.url, corpus, metrics_url=None))
        stalls = [
            (int(a), int(b)) for a, b in (line.split() for line in log.read_text().splitlines())
        ]
        doc = reports.build(data, host={})
        server_side = stall_proof(data, doc, stalls, cfg)
        with running(reference("empty", base)) as empty:
            gdata = run(
                run_config(
                    cfg,
                    empty.url,
                    corpus,
                    metrics_url=None,
                    generator_stall=(cfg.stall_s * 1000, cfg.every_s),
                )
            )
        gdoc = reports.build(gdata, host={})
        generator_side: GeneratorProof = {
            "ok": gdoc["verdict"]["status"] == "GENERATOR_SATURATED"
            and gdoc["exit_code"] == ExitCode.INVALID_RUN,
            "verdict": gdoc["verdict"]["status"],
            "exit_code": gdoc["exit_code"],
            "failed_checks": [c["name"] for c in gdoc["verdict"]["checks"] if not c["ok"]],
        }
    return {
        "ok": server_side["ok"] and generator_side["ok"],
        "server_stall": server_side,
        "generator_stall": generator_side,
    }
