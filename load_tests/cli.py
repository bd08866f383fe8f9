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
import os
import sys
from collections.abc import Sequence
from typing import Protocol

from load_tests import crosscheck, inprocess, run_command, selftest, serve
from load_tests.args import HANDLER, Handler, HelpFormatter, Parser, Subcommands
from load_tests.bench import cli as bench_cli
from load_tests.corpus import CorpusError
from load_tests.preflight import Refused
from load_tests.runner import RunFailed
from load_tests.spawn import SpawnFailed
from load_tests.verdict import ExitCode

__all__ = ["COMMANDS", "main", "parser"]


class Command(Protocol):
    """A command module: ``register(sub)`` adds its parser and sets its handler."""

    def register(self, sub: Subcommands, /) -> None: ...


# In the order --help lists them. The only place that knows every subcommand.
COMMANDS: tuple[Command, ...] = (run_command, serve, selftest, crosscheck, bench_cli, inprocess)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="hcgw-load", description=__doc__, formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    handler: Handler = getattr(args, HANDLER)
    try:
        return handler(args, argv)
    except (CorpusError, ValueError, OSError, Refused, RunFailed, SpawnFailed) as exc:
        print(f"hcgw-load: {exc}", file=sys.stderr, flush=True)
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
