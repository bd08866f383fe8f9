"""``hcgw-load bench``: run the benchmark of record and write BENCHMARKS.md (and its JSON);
``--compare REV``: the working tree against a revision, in the same rounds; ``--agree A B``:
how far two runs' JSON documents agree, ratio by ratio (exit 0 only if every ratio does)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import cast

from load_tests.args import HANDLER, Subcommands, duration
from load_tests.bench.agree import TOLERANCE, agreement, render_agreement
from load_tests.bench.builds import revision
from load_tests.bench.document import BenchDoc
from load_tests.bench.markdown import render
from load_tests.bench.samples import SchemaError, check_schema
from load_tests.verdict import ExitCode
from load_tests.wrk import available

SCENARIO_NAMES = {  # --scenarios: short names of hub.SCENARIOS
    "single-hit": "single code, cache hit",
    "single-miss": "single code, cache miss",
    "batch-hit": "batch of 100, cache hit",
    "batch-miss": "batch of 100, cache miss",
}


def scenarios(text: str) -> tuple[str, ...]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in names if x not in SCENARIO_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected some of {', '.join(SCENARIO_NAMES)}, comma-separated"
        )
    return tuple(SCENARIO_NAMES[x] for x in names)


def register(sub: Subcommands) -> None:
    b = sub.add_parser("bench", help="measure limits, peers and the gateway; write BENCHMARKS.md")
    b.add_argument("--seconds", type=duration, default=3.0,
                   help="per measurement in a round (default 3)")  # fmt: skip
    b.add_argument("--rounds", type=int, default=5,
                   help="rounds of measurements (default 5: a median of 5 stays between clean "
                   "rounds with 2 of them off)")  # fmt: skip
    b.add_argument("--connections", type=int, default=32, help="wrk's connections (default 32)")
    b.add_argument("--codes", type=int, default=800_000,
                   help="corpus size to make (default 800k)")  # fmt: skip
    b.add_argument("--corpus", type=Path, help="use this provinces_sim corpus instead")
    b.add_argument("--workers", default="1,2", help="gateway worker counts (default 1,2)")
    b.add_argument("--scenarios", type=scenarios, default=tuple(SCENARIO_NAMES.values()),
                   help="some of " + ", ".join(SCENARIO_NAMES) + " (default: all)")  # fmt: skip
    b.add_argument(
        "--no-gunicorn", action="store_true", help="skip the most workers under gunicorn"
    )
    b.add_argument(
        "--no-cluster", action="store_true", help="skip the runs on a local Redis Cluster"
    )
    b.add_argument("--no-profile", action="store_true", help="run without py-spy")
    b.add_argument("--no-peers", action="store_true", help="skip PyJWT, joserfc, pycose")
    b.add_argument("--no-crosscheck", action="store_true", help="skip the harness vs wrk check")
    b.add_argument("--no-open-loop", action="store_true", help="skip the open-loop latency")
    b.add_argument("--open-loop-seconds", type=duration, default=3.0,
                   help="per open-loop point in each round, after 1 s of warm-up "
                   "(default 3)")  # fmt: skip
    b.add_argument("--stall-seconds", type=duration, default=3.0,
                   help="per round: cached single codes beside batches of 1,000 new codes on 1 "
                   "worker (default 3)")  # fmt: skip
    b.add_argument("--no-stall", action="store_true",
                   help="skip the cached single codes beside batches")  # fmt: skip
    b.add_argument("--ack-seconds", type=duration, default=4.0,
                   help="per deployment and round: status messages' acknowledgement on busy "
                   "workers, lease_invalidation on and off (default 4: a p99 of the rounds' "
                   "latencies together needs 1,000 of them)")  # fmt: skip
    b.add_argument("--no-acks", action="store_true",
                   help="skip the acknowledgement latency (and its lease_invalidation "
                   "deployments)")  # fmt: skip
    b.add_argument(
        "--max-wait",
        type=duration,
        default=60.0,
        help="wait up to this long before each measurement for the machine to be "
        "quiet (< 15 %% busy); 0: do not wait",
    )
    b.add_argument("--max-spread", type=float, default=0.20,
                   help="mark a figure whose per-round ratios spread over this share of their "
                   "median (default 0.2)")  # fmt: skip
    b.add_argument("--max-drift", type=float, default=0.20,
                   help="mark a figure when the limits moved more than this share between the "
                   "slots around one of its measurements (default 0.2)")  # fmt: skip
    b.add_argument("--retries", type=int, default=2,
                   help="take a measurement again up to this many times when others took over "
                   "10 %% of the machine during it (default 2)")  # fmt: skip
    b.add_argument("--compare", metavar="REV",
                   help="run this git revision (a temporary worktree) beside the working tree "
                   "in the same rounds; report the working tree over it, scenario by scenario "
                   "(no peers, profile, open loop, stall or acknowledgements; BENCHMARKS.md "
                   "untouched unless --out)")  # fmt: skip
    b.add_argument("--out", type=Path, help="the page (default BENCHMARKS.md; none with --compare)")
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b.add_argument("--workdir", type=Path, help="keep the run's files here (default: a temp dir)")
    b.add_argument(
        "--from-json", type=Path, help="measure nothing: write the page again from this JSON"
    )
    b.add_argument("--agree", type=Path, nargs=2, metavar=("A.json", "B.json"),
                   help="measure nothing: every ratio of two runs side by side with B ÷ A − 1 "
                   "and their marks, then how many agree within --tolerance; exit 0 only if "
                   "all do, 1 if not (written to --out too, if given)")  # fmt: skip
    b.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help="--agree: the largest |B ÷ A − 1| that agrees (default 0.1)")  # fmt: skip
    b.set_defaults(**{HANDLER: bench_command})


def read_document(path: Path) -> BenchDoc | None:
    """A bench document this bench reads, or None after saying why not."""
    try:
        doc = json.loads(path.read_text())
        check_schema(doc)
    except (json.JSONDecodeError, UnicodeDecodeError, SchemaError, AttributeError) as exc:
        print(f"hcgw-load bench: {path}: {exc}", file=sys.stderr)
        return None
    return cast(BenchDoc, doc)


def agree_command(args: argparse.Namespace) -> int:
    a, b = (read_document(p) for p in args.agree)
    if a is None or b is None:
        return int(ExitCode.USAGE)
    if not 0 < args.tolerance < 1:
        print("hcgw-load bench: --tolerance must be between 0 and 1", file=sys.stderr)
        return int(ExitCode.USAGE)
    report = agreement(a, b, args.tolerance, sources=(str(args.agree[0]), str(args.agree[1])))
    text = render_agreement(report)
    if args.out:
        args.out.write_text(text)
    print(text, end="")
    return 0 if report.ok else 1


def bench_command(args: argparse.Namespace, argv: list[str]) -> int:
    if args.agree:
        return agree_command(args)
    if args.from_json:
        doc = read_document(args.from_json)
        if doc is None:
            return int(ExitCode.USAGE)
        text = render(doc, doc.get("command", "hcgw-load bench"))
        out = args.out or (None if doc.get("mode") == "compare" else Path("BENCHMARKS.md"))
        if out is not None:
            out.write_text(text)
        else:
            print(text)
        return 0

    if not available():
        print("hcgw-load bench: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return int(ExitCode.USAGE)
    # Here, not at the top: the measuring side imports the gateway (its embedded Redis, the
    # micro-benchmarks), and every generator process of `hcgw-load run` imports the command line.
    from load_tests.bench.run import BenchConfig, bench, write

    compare = args.compare is not None
    gunicorn = not args.no_gunicorn
    if gunicorn and importlib.util.find_spec("gunicorn") is None:
        print("hcgw-load bench: gunicorn is not installed (pip install -e '.[load]'), "
              "or pass --no-gunicorn", file=sys.stderr)  # fmt: skip
        return int(ExitCode.USAGE)
    lengths = (args.seconds, args.stall_seconds, args.ack_seconds)
    if args.rounds < 1 or min(lengths) < 1 or min(args.max_spread, args.max_drift) <= 0:
        print("hcgw-load bench: --rounds, --seconds, --stall-seconds and --ack-seconds must be "
              "at least 1, --max-spread and --max-drift above 0", file=sys.stderr)  # fmt: skip
        return int(ExitCode.USAGE)
    cfg = BenchConfig(
        seconds=args.seconds,
        rounds=args.rounds,
        connections=args.connections,
        codes=args.codes,
        corpus=args.corpus,
        workers=tuple(int(w) for w in args.workers.split(",")),
        scenarios=args.scenarios,
        gunicorn=gunicorn,
        cluster=not args.no_cluster,
        profile=not (args.no_profile or compare),
        peers=not (args.no_peers or compare),
        crosscheck=not (args.no_crosscheck or compare),
        open_loop=not (args.no_open_loop or compare),
        open_loop_seconds=args.open_loop_seconds,
        stall_seconds=0.0 if args.no_stall or compare else args.stall_seconds,
        ack_seconds=0.0 if args.no_acks or compare else args.ack_seconds,
        max_wait_s=args.max_wait,
        max_spread=args.max_spread,
        max_drift=args.max_drift,
        retries=max(0, args.retries),
    )
    command = "hcgw-load " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    def log(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hcgw-bench-")))
        workdir = args.workdir or tmp
        workdir.mkdir(parents=True, exist_ok=True)
        base = stack.enter_context(revision(args.compare, tmp)) if compare else None
        doc = bench(cfg, log, workdir, base)
    doc["command"] = command
    text = render(doc, command)
    out = args.out or (None if compare else Path("BENCHMARKS.md"))
    if out is not None:
        out.write_text(text)
    if args.json:
        write(doc, args.json)
    print(text)
    return 0
