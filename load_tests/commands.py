"""The subcommands beyond ``run``: cross-check, self-test, bench, reference servers, layers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from load_tests.verdict import ExitCode


def add_parsers(sub: Any) -> None:
    from load_tests.cli import add_traffic_args, seconds

    for kind in ("empty", "stall"):
        p = sub.add_parser(f"serve-{kind}", help=f"the {kind} reference server")
        p.add_argument("--port", type=int, required=True)
        if kind == "stall":
            p.add_argument("--stall", type=seconds, default=0.3, help="how long each stall lasts")
            p.add_argument("--every", type=seconds, default=1.0, help="time between stalls")
            p.add_argument("--log", default="", help="append each stall's start and end (ns)")
    s = sub.add_parser("selftest", help="prove the open-loop accounting (stalling server)")
    s.add_argument("--rate", type=float, default=1000.0)
    s.add_argument("--stall", type=seconds, default=0.3)
    s.add_argument("--duration", type=seconds, default=3.0)
    s.add_argument("--connections", type=int, default=8)
    s.add_argument("--json", help="write the result here")
    c = sub.add_parser("crosscheck", help="drive the same endpoint with wrk, then the harness")
    add_traffic_args(c)
    c.add_argument("--duration", type=seconds, default=5.0)
    c.add_argument("--connections", type=int, default=32, help="wrk's and the harness's, total")
    c.add_argument("--min-agreement", type=float, default=0.8,
                   help="harness/wrk rate below this: the harness is the bottleneck")  # fmt: skip
    c.add_argument("--json", help="write the result here")
    from load_tests.bench.cli import add_bench_parser

    add_bench_parser(sub)
    lay = sub.add_parser("layers", help="in-process, per-layer rates of the verification service")
    lay.add_argument("--seconds", type=float, default=2.0)
    lay.add_argument("--concurrency", type=int, default=64)


def dispatch(args: argparse.Namespace) -> int:
    if args.command in ("serve-empty", "serve-stall"):
        from load_tests import servers

        if args.command == "serve-empty":
            servers.run(args.port)
        else:
            servers.run(args.port, args.stall, args.every, args.log)
        return 0
    if args.command == "selftest":
        from load_tests.selftest import SelfTestConfig, selftest

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
    if args.command == "crosscheck":
        from load_tests.crosscheck import crosscheck_command

        return crosscheck_command(args)
    if args.command == "bench":
        from load_tests.bench.cli import bench_command

        return bench_command(args)
    if args.command == "layers":
        from load_tests import layers

        layers.main_sync(args.seconds, args.concurrency)
        return 0
    print(f"unknown command {args.command}", file=sys.stderr)
    return int(ExitCode.USAGE)
