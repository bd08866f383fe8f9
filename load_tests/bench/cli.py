"""``hcgw-load bench``: run the benchmark of record and write BENCHMARKS.md (and its JSON)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from load_tests.verdict import ExitCode


def add_bench_parser(sub: Any) -> None:
    from load_tests.cli import seconds

    b = sub.add_parser("bench", help="measure limits, peers and the gateway; write BENCHMARKS.md")
    b.add_argument("--seconds", type=seconds, default=5.0, help="per measurement (default 5)")
    b.add_argument("--connections", type=int, default=32, help="wrk's connections (default 32)")
    b.add_argument("--codes", type=int, default=500_000, help="corpus size to make (default 500k)")
    b.add_argument("--corpus", type=Path, help="use this provinces_sim corpus instead")
    b.add_argument("--workers", default="1,2", help="gateway worker counts (default 1,2)")
    b.add_argument(
        "--no-gunicorn", action="store_true", help="skip the most workers under gunicorn"
    )
    b.add_argument(
        "--no-cluster", action="store_true", help="skip the runs on a local Redis Cluster"
    )
    b.add_argument("--no-profile", action="store_true", help="run without py-spy")
    b.add_argument(
        "--max-wait",
        type=seconds,
        default=60.0,
        help="wait up to this long before each measurement for the machine to be "
        "quiet (< 15 %% busy); 0: do not wait",
    )
    b.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b.add_argument("--workdir", type=Path, help="keep the run's files here (default: a temp dir)")
    b.add_argument(
        "--from-json", type=Path, help="measure nothing: write BENCHMARKS.md again from --json"
    )


def bench_command(args: argparse.Namespace) -> int:
    from load_tests.bench.markdown import render
    from load_tests.bench.run import BenchConfig, bench, write
    from load_tests.bench.targets import targets
    from load_tests.wrk import available

    if args.from_json:
        doc = json.loads(args.from_json.read_text())
        doc["targets"] = targets(doc)
        args.out.write_text(render(doc, doc.get("command", "hcgw-load bench")))
        return 0

    if not available():
        print("hcgw-load bench: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return int(ExitCode.USAGE)
    if not args.no_gunicorn and importlib.util.find_spec("gunicorn") is None:
        print("hcgw-load bench: gunicorn is not installed (pip install -e '.[load]'), "
              "or pass --no-gunicorn", file=sys.stderr)  # fmt: skip
        return int(ExitCode.USAGE)
    cfg = BenchConfig(
        seconds=args.seconds,
        connections=args.connections,
        codes=args.codes,
        corpus=args.corpus,
        workers=tuple(int(w) for w in args.workers.split(",")),
        gunicorn=not args.no_gunicorn,
        cluster=not args.no_cluster,
        profile=not args.no_profile,
        max_wait_s=args.max_wait,
    )
    command = "hcgw-load " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    def log(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="hcgw-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        doc = bench(cfg, log, workdir)
    doc["command"] = command
    text = render(doc, command)
    args.out.write_text(text)
    if args.json:
        write(doc, args.json)
    print(text)
    return 0
