"""``hcgw-load`` / ``python -m load_tests``: the load harness and the benchmark of record.

    hcgw-load run         drive a gateway from a corpus (open or closed loop), report, gate
    hcgw-load crosscheck  the same endpoint and bodies with wrk, then the harness; compare
    hcgw-load selftest    prove the open-loop accounting against a server that stalls on purpose
    hcgw-load bench       measure the limits, the peers and the gateway; write BENCHMARKS.md
    hcgw-load serve-empty / serve-stall   the reference servers the above start
    hcgw-load layers      in-process, per-layer rates of the verification service

Exit codes (``run``, ``crosscheck``, ``selftest``): 0 ok, 2 usage or environment error,
3 run invalid (the generator could not keep its schedule, or counts do not add up),
4 error rate over ``--max-error-rate``, 5 p99 over ``--max-p99``, 6 rate under ``--min-rate``.
Traffic goes to loopback addresses only.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from load_tests.bodies import ENCODINGS, Target
from load_tests.corpus import CorpusError, load_manifest
from load_tests.schedule import Step, parse_steps
from load_tests.verdict import ExitCode, SelfCheckLimits, Thresholds
from load_tests.workload import RepeatModel

_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "": 1.0}


def seconds(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9.]+)\s*(us|µs|ms|s|)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration like 10s, 500ms, 800us")
    return float(m.group(1)) * _UNITS[m.group(2)]


def share(text: str) -> float:
    value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a share within 0..1 or 0%..100%")
    return value


def stall(text: str) -> tuple[float, float]:
    m = re.fullmatch(r"([0-9.]+)(?:ms)?[:@/]([0-9.]+)s?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MS:EVERY_S, e.g. 300:1")
    return float(m.group(1)), float(m.group(2))


def procs(text: str) -> int:
    if text == "auto":
        return len(os.sched_getaffinity(0))
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a count >= 1 or auto")
    return int(text)


def cpus(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return tuple(out)


def loopback_url(url: str) -> str:
    host = urlsplit(url).hostname or ""
    try:
        addrs = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{url}: {exc}") from exc
    if not addrs or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs):
        raise argparse.ArgumentTypeError(f"{url}: only loopback targets are allowed")
    return url.rstrip("/")


def add_traffic_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url", type=loopback_url, required=True, help="the gateway, http://127.0.0.1:PORT"
    )
    p.add_argument("--corpus", type=Path, required=True, help="a provinces_sim corpus directory")
    p.add_argument("--token", help="bearer token (default: the corpus manifest's client token)")
    p.add_argument("--batch", type=int, default=0, help="codes per batch request (0: single codes)")
    p.add_argument("--encoding", choices=ENCODINGS, default="msgpack")
    g = p.add_argument_group("repeat model (sets the cache-hit ratio)")
    g.add_argument(
        "--zipf-s", type=float, default=1.0, help="Zipf exponent over code ranks; 0 uniform"
    )
    g.add_argument("--population", type=int, help="distinct codes drawn from (default: all)")
    g.add_argument("--fresh", action="store_true", help="every draw a new code: cache-miss traffic")
    g.add_argument(
        "--invalid-share", type=share, help="share of invalid codes (default: as the corpus)"
    )
    g.add_argument("--skip", type=int, default=0, help="leave out the first N corpus codes")
    g.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--procs", type=procs, default=1, help="generator processes; auto: one per usable core"
    )
    p.add_argument(
        "--cpus", type=cpus, default=(), help="pin generator j to the j-th of these, e.g. 1 or 0-1"
    )
    p.add_argument("--timeout", type=seconds, default=10.0, help="per request")
    p.add_argument(
        "--check-every", type=int, default=100, help="compare every n-th answer with the corpus"
    )


def add_run_args(p: argparse.ArgumentParser) -> None:
    add_traffic_args(p)
    p.add_argument("--mode", choices=("open", "closed"), default="open")
    p.add_argument("--rate", type=float, help="open loop: requests per second")
    p.add_argument(
        "--steps", type=parse_steps, help="open loop ramp: RATE:SECONDS,… (instead of --rate)"
    )
    p.add_argument("--poisson", action="store_true", help="open loop: exponential gaps (seeded)")
    p.add_argument("--duration", type=seconds, default=10.0, help="measured phase")
    p.add_argument("--warmup", type=seconds, default=2.0, help="whole seconds, reported apart")
    p.add_argument("--connections", type=int, default=64, help="per process: the in-flight bound")
    p.add_argument("--drain", type=seconds, default=10.0, help="how long answers may still come")
    p.add_argument("--metrics-url", help="the hub's /metrics (default: URL/metrics)")
    p.add_argument("--json", type=Path, help="write the JSON report here")
    p.add_argument("--plot", type=Path, help="write a PNG of the run here (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no live progress")
    t = p.add_argument_group("thresholds (measured phase)")
    t.add_argument("--max-p99", type=seconds, help="latency p99, e.g. 5ms (exit 5)")
    t.add_argument("--min-rate", type=float, help="successful requests/s (exit 6)")
    t.add_argument("--max-error-rate", type=share, help="e.g. 0.1%% (exit 4)")
    s = p.add_argument_group("self-check limits (exit 3 when the generator fails them)")
    s.add_argument("--max-gen-lag-p99", type=seconds, default=0.010)
    s.add_argument("--max-loop-lag-p99", type=seconds, default=0.010)
    s.add_argument(
        "--generator-stall",
        type=stall,
        help="self-test knob: block the generator's own loop MS every S seconds",
    )


def run_config(args: argparse.Namespace) -> Any:
    from load_tests.runner import RunConfig

    token = args.token
    if token is None:
        token = load_manifest(args.corpus)["client"]["token"]
    steps: tuple[Step, ...] = ()
    if args.mode == "open":
        if args.steps:
            steps = tuple(args.steps)
        elif args.rate:
            steps = (Step(args.rate, args.duration),)
        else:
            raise CorpusError("open loop needs --rate or --steps")
    duration = sum(s.seconds for s in steps) if steps else args.duration
    return RunConfig(
        target=Target(args.url, token, args.batch, args.encoding),
        corpus=str(args.corpus),
        mode=args.mode,
        steps=steps,
        poisson_seed=args.seed if getattr(args, "poisson", False) else None,
        warmup_s=round(args.warmup),
        duration_s=duration,
        procs=args.procs,
        connections=args.connections,
        cpus=args.cpus,
        repeat=RepeatModel(
            zipf_s=args.zipf_s,
            population=args.population,
            fresh=args.fresh,
            invalid_share=args.invalid_share,
            skip=args.skip,
            seed=args.seed,
        ),
        timeout_s=args.timeout,
        drain_s=args.drain,
        check_every=args.check_every,
        metrics_url=args.metrics_url or args.url + "/metrics",
        generator_stall=args.generator_stall,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from load_tests import report as reports
    from load_tests.runner import run
    from load_tests.table import render

    cfg = run_config(args)
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    data = run(cfg, progress)
    thresholds = Thresholds(
        max_p99_us=round(args.max_p99 * 1e6) if args.max_p99 else None,
        min_rate=args.min_rate,
        max_error_rate=args.max_error_rate,
    )
    limits = SelfCheckLimits(
        gen_lag_p99_us=round(args.max_gen_lag_p99 * 1e6),
        loop_lag_p99_us=round(args.max_loop_lag_p99 * 1e6),
    )
    doc = reports.build(data, thresholds, limits)
    print(render(doc))
    if args.json:
        reports.write_json(doc, args.json)
    if args.plot:
        from load_tests.plot import write_png

        write_png(doc, args.plot)
    return int(doc["exit_code"])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hcgw-load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    add_run_args(sub.add_parser("run", help="drive a gateway from a corpus"))
    from load_tests import commands

    commands.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        from load_tests import commands

        return commands.dispatch(args)
    except (CorpusError, ValueError, OSError) as exc:
        print(f"hcgw-load: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
