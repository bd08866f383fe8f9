"""The subcommands beyond ``run``: cross-check, self-test, bench, reference servers, layers."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any) -> None:
    pass


def dispatch(args: argparse.Namespace) -> int:
    raise ValueError(f"unknown command {args.command}")
