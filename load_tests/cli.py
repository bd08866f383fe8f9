"""``hcgw-load`` / ``python -m load_tests``: the load harness and the benchmark of record.

    hcgw-load run         drive a hub from a corpus (open or closed loop), report, gate
    hcgw-load crosscheck  the same endpoint and bodies with wrk, then the harness; compare
    hcgw-load selftest    prove the open-loop accounting against a server that stalls on purpose
    hcgw-load bench       measure the limits, the peers and the gateway; write BENCHMARKS.md
    hcgw-load serve-empty / serve-stall   the reference servers the above start
    hcgw-load layers      in-process, per-layer rates of the verification service

Before a run, one request must come back 200 with the verdict the corpus expects; otherwise
the run does not start and one line says what to fix (exit 2). Exit codes (``run``,
``crosscheck``, ``selftest``): 0 ok, 2 usage or environment error, 3 run not valid (the
generator could not keep its schedule, the counts do not add up, or the traffic was not what
was asked: mostly errors, a cache hit ratio off its expectation), 4 error rate over
``--max-error-rate``, 5 p99 over ``--max-p99``, 6 rate under ``--min-rate``, 7 crosscheck
inconclusive (the machine was busy). Traffic goes to loopback addresses only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator, Sequence

from load_tests.corpus import CorpusError
from load_tests.options import (
    HelpFormatter,
    Parser,
    add_run_args,
    add_traffic_args,
    ignored,
    limits,
    run_config,
    thresholds,
)
from load_tests.preflight import Refused
from load_tests.report import HubInfo
from load_tests.runner import Observer, RunConfig, RunFailed
from load_tests.spawn import SpawnFailed
from load_tests.units import duration as seconds
from load_tests.units import share
from load_tests.verdict import ExitCode

__all__ = ["add_traffic_args", "main", "parser", "run_config", "seconds", "share"]


def say(line: str) -> None:
    print(f"hcgw-load: {line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _hub(args: argparse.Namespace) -> Iterator[HubInfo]:
    if not args.spawn_hub:
        yield HubInfo(args.url)
        return
    from load_tests.spawn import spawned_hub

    with spawned_hub(args.corpus, workers=args.hub_workers, say=say) as hub:
        args.url, args.metrics_url = hub.url, None
        yield hub


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from load_tests import report as reports
    from load_tests.runner import run
    from load_tests.table import render

    if args.spawn_hub == bool(args.url):
        raise CorpusError("give the hub's --url, or --spawn-hub to start one (not both)")
    for warning in ignored(args):
        say(f"warning: {warning}")
    gates, checks = thresholds(args, argv), limits(args)
    progress = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    with _hub(args) as hub:
        cfg = dataclasses.replace(run_config(args), preflight=True)
        with _live(args.metrics_listen, cfg) as observer:
            data = run(cfg, progress, observer)
    doc = reports.build(data, gates, checks, hub=hub)
    print(render(doc))
    if args.json:
        reports.write_json(doc, args.json)
    if args.plot:
        try:
            from load_tests.plot import write_png
        except ImportError:
            say("--plot needs matplotlib (pip install -e '.[load]'); no PNG written")
        else:
            write_png(doc, args.plot)
    return int(doc["exit_code"])


@contextlib.contextmanager
def _live(listen: str | None, cfg: RunConfig) -> Iterator[Observer | None]:
    """``--metrics-listen``: serve the run's figures for Prometheus while it runs."""
    if listen is None:
        yield None
        return
    from load_tests.live import LiveFigures, LiveServer, listen_address

    host, port = listen_address(listen)
    figures = LiveFigures(cfg.schedule(), cfg.warmup_s, cfg.total_s)
    server = LiveServer(figures, host, port)
    say(f"serving the run's figures for Prometheus at {server.url}")
    try:
        yield figures.second
    finally:
        server.close()


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="hcgw-load", description=__doc__, formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    add_run_args(
        sub.add_parser("run", help="drive a hub from a corpus", formatter_class=HelpFormatter)
    )
    from load_tests import commands

    commands.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args, argv)
        from load_tests import commands

        return commands.dispatch(args)
    except (CorpusError, ValueError, OSError, Refused, RunFailed, SpawnFailed) as exc:
        say(str(exc))
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
