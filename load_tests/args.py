"""Argument types and the parser classes every ``hcgw-load`` subcommand shares.

A leaf: it imports nothing of ``load_tests`` but ``units`` (itself a leaf), so a command module
can take its types from here without importing the command line, and the command line can
import every command module. Each command module exports ``register(sub)``, which adds its
parser and sets its handler (``HANDLER``) with ``set_defaults``; ``cli.py`` only lists them.

A parse error is one line, never the usage block; every option's help says its default.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from collections.abc import Callable
from typing import NoReturn, TypeAlias
from urllib.parse import urlsplit

from load_tests.units import duration, latency, share

__all__ = [
    "HANDLER",
    "Handler",
    "HelpFormatter",
    "Parser",
    "Subcommands",
    "cpus",
    "duration",
    "latency",
    "loopback_url",
    "min_rate",
    "procs",
    "share",
    "stall",
]

# argparse's type for what add_subparsers() returns is private; this is the one place naming it.
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"
# A subcommand's handler: the parsed arguments and the command line as typed → the exit code.
Handler: TypeAlias = Callable[[argparse.Namespace, list[str]], int]
HANDLER = "handler"  # the Namespace attribute register() sets with set_defaults


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends ``(default: …)`` to every option that has one and does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or not action.option_strings:
            return text
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


def procs(text: str) -> int:
    if text == "auto":
        return len(os.sched_getaffinity(0))
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a count >= 1 or auto")
    return int(text)


def cpus(text: str) -> tuple[int, ...]:
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected CPUs like 1 or 0-1 or 0,2") from None
    return tuple(out)


def stall(text: str) -> tuple[float, float]:
    ms, _, every = text.strip().removesuffix("s").partition(":")
    try:
        return float(ms.removesuffix("ms")), float(every)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MS:EVERY_S, e.g. 300:1") from None


def min_rate(text: str) -> tuple[float | None, float | None]:
    """``700`` or ``700/s`` → (700, None); ``95%`` → (None, 0.95): a share of each step's plan."""
    if text.endswith("%"):
        return None, share(text)
    try:
        return float(text.removesuffix("/s")), None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected requests/s (700) or 95%") from None


def loopback_url(url: str) -> str:
    if "://" not in url:
        raise argparse.ArgumentTypeError(f"{url!r} has no scheme: did you mean http://{url}?")
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise argparse.ArgumentTypeError(f"{url}: only http:// targets (plain HTTP on loopback)")
    host = parts.hostname or ""
    try:
        addrs = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{url}: {host!r} does not resolve ({exc})") from exc
    if not addrs or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs):
        raise argparse.ArgumentTypeError(f"{url}: only loopback targets are allowed")
    return url.rstrip("/")
