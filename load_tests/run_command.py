"""``hcgw-load run``: drive a hub from a corpus (open or closed loop), report, gate.

Against ``--url`` or a hub it starts (``--spawn-hub``); the options are ``options``'.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Iterator

from load_tests import report as reports
from load_tests.args import HANDLER, HelpFormatter, Subcommands
from load_tests.corpus import CorpusError
from load_tests.live import LiveFigures, LiveServer, listen_address
from load_tests.options import add_run_args, ignored, limits, run_config, thresholds
from load_tests.plot import write_png
from load_tests.report import HubInfo
from load_tests.runner import Observer, RunConfig, run
from load_tests.spawn import spawned_hub
from load_tests.table import render


def register(sub: Subcommands) -> None:
    p = sub.add_parser("run", help="drive a hub from a corpus", formatter_class=HelpFormatter)
    add_run_args(p)
    p.set_defaults(**{HANDLER: main})


def say(line: str) -> None:
    print(f"hcgw-load: {line}", file=sys.stderr, flush=True)


def main(args: argparse.Namespace, argv: list[str]) -> int:
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
            write_png(doc, args.plot)  # imports matplotlib, an optional dependency
        except ImportError:
            say("--plot needs matplotlib (pip install -e '.[load]'); no PNG written")
    return int(doc["exit_code"])


@contextlib.contextmanager
def _hub(args: argparse.Namespace) -> Iterator[HubInfo]:
    if not args.spawn_hub:
        yield HubInfo(args.url)
        return
    with spawned_hub(args.corpus, workers=args.hub_workers, say=say) as hub:
        args.url, args.metrics_url = hub.url, None
        yield hub


@contextlib.contextmanager
def _live(listen: str | None, cfg: RunConfig) -> Iterator[Observer | None]:
    """``--metrics-listen``: serve the run's figures for Prometheus while it runs."""
    if listen is None:
        yield None
        return
    host, port = listen_address(listen)
    figures = LiveFigures(cfg.schedule(), cfg.warmup_s, cfg.total_s)
    server = LiveServer(figures, host, port)
    say(f"serving the run's figures for Prometheus at {server.url}")
    try:
        yield figures.second
    finally:
        server.close()
