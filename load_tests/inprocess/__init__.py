"""In-process introspection of the gateway: the only part of ``load_tests`` that runs the
gateway's own code in its own process, and so the only part, with the benchmark's
micro-measurements (``bench.micro``) and the bench's gunicorn app, that imports ``gateway``.

``layers``: where a verification's time goes, layer by layer (``hcgw-load layers``);
``status_memory``: Redis bytes per stored status (``python -m load_tests.inprocess.status_memory``).
The harness never imports this package (an import-linter contract); the command line does.
"""

from __future__ import annotations

import argparse

from load_tests.args import HANDLER, Subcommands


def register(sub: Subcommands) -> None:
    lay = sub.add_parser("layers", help="in-process, per-layer rates of the verification service")
    lay.add_argument("--seconds", type=float, default=2.0)
    lay.add_argument("--concurrency", type=int, default=64)
    lay.set_defaults(**{HANDLER: layers_command})


def layers_command(args: argparse.Namespace, argv: list[str]) -> int:
    # Here, not at the top: `layers` imports the gateway (aiohttp, redis, the hub: half a
    # second), and every generator process of `hcgw-load run` imports the command line.
    from load_tests.inprocess import layers

    layers.main_sync(args.seconds, args.concurrency)
    return 0
