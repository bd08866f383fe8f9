"""``hcgw-load serve-empty`` / ``serve-stall``: the commands of the reference servers.

The servers themselves are ``servers``', imported only when one is started: they need
aiohttp, and every generator process of ``hcgw-load run`` imports the command line.
"""

from __future__ import annotations

import argparse

from load_tests.args import HANDLER, Subcommands, duration


def register(sub: Subcommands) -> None:
    for kind in ("empty", "stall"):
        p = sub.add_parser(f"serve-{kind}", help=f"the {kind} reference server")
        p.add_argument("--port", type=int, required=True)
        if kind == "stall":
            p.add_argument("--stall", type=duration, default=0.3, help="how long each stall lasts")
            p.add_argument("--every", type=duration, default=1.0, help="time between stalls")
            p.add_argument("--log", default="", help="append each stall's start and end (ns)")
        p.set_defaults(**{HANDLER: command})


def command(args: argparse.Namespace, argv: list[str]) -> int:
    from load_tests import servers  # aiohttp: 0.13 s a generator process should not pay

    if args.command == "serve-empty":
        servers.run(args.port)
    else:
        servers.run(args.port, args.stall, args.every, args.log)
    return 0
