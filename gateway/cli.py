"""``hcgw``: the gateway's command line.

    hcgw serve     run the hub (embedded redis-server unless redis_url is set; --workers N)
    hcgw token     make a verifier client's bearer token and its ``[[client]]`` entry
    hcgw keygen    make the hub's trust-list signing key (serve makes it when missing)

This is the only module that reads ``os.environ`` and the process's clock defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.config import LOG_FORMATS, SCOPES, ConfigError, Settings, load_settings
from gateway.handshake import (
    CONFIG,
    EXIT_NOT_DURABLE,
    EXIT_OS_ERROR,
    EXIT_REFUSED,
    REDIS_URL,
    REFUSAL,
    WORKER_READY,
)
from gateway.keyfile import load_or_create_hub_key
from gateway.metrics.catalogue import build
from gateway.metrics.logs import configure_logging
from gateway.offline import commands as offline
from gateway.server import serve
from gateway.store.durability import DurabilityRefused
from gateway.store.embedded import DataDirInUse
from gateway.worker import run_worker

log = logging.getLogger("hcgw")


class _Version(argparse.Action):
    """``--version``: what ``hcgw_build_info`` says, read only when asked (it runs git)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str) -> None:
        super().__init__(option_strings, dest, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        version, revision, python = build()
        print(f"hcgw {version} (git {revision}, Python {python})")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hcgw", description="Health-code mutual-recognition gateway")
    p.add_argument("--version", action=_Version, help="print the hub's version and exit")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the hub")
    s.add_argument("--config", help="TOML config file (default: $HCGW_CONFIG)")
    s.add_argument("--listen", help="host:port, overrides [gateway] listen")
    s.add_argument("--redis-url", help="redis:// or unix:// URL; empty starts an embedded one")
    s.add_argument("--ready-file", type=Path, help="write host:port here once listening")
    s.add_argument("--workers", type=int, help="worker processes on one port (SO_REUSEPORT)")
    s.add_argument(
        "--log-format", choices=LOG_FORMATS, help="json lines (default) or text, over log_format"
    )
    sub.add_parser("worker")  # started by the supervisor
    t = sub.add_parser("token", help="make a client token and its [[client]] entry")
    t.add_argument("--bytes", type=int, default=32, help="token entropy in bytes (at least 16)")
    t.add_argument("--id", default="verifier-1", help="the client's id in [[client]]")
    t.add_argument("--scopes", default="verify", help="comma-separated: verify, trustlist")
    t.add_argument("--rate", type=float, default=100, help="requests per second (burst 2x)")
    k = sub.add_parser("keygen", help="make the hub's trust-list key")
    k.add_argument("path", type=Path)
    offline.add_commands(sub, os.environ)  # trustlist fetch|show, verify --offline
    # `worker` is the supervisor's, not an operator's: added without help= it is left out of the
    # list of commands, and the metavar leaves it out of the usage line.
    sub.metavar = "{" + ",".join(name for name in sub.choices if name != "worker") + "}"
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in offline.COMMANDS:
        return offline.run(args, os.environ)
    level = os.environ.get("HCGW_LOG_LEVEL", "INFO")
    configure_logging("text", level, sys.stderr)
    if args.command == "token":
        return _token(args)
    if args.command == "keygen":
        load_or_create_hub_key(args.path)
        return 0
    environ = dict(os.environ)
    if getattr(args, "listen", None):
        environ["HCGW_LISTEN"] = args.listen
    if getattr(args, "redis_url", None) is not None:
        environ[REDIS_URL] = args.redis_url
    if getattr(args, "workers", None) is not None:
        environ["HCGW_WORKERS"] = str(args.workers)
    if getattr(args, "log_format", None) is not None:
        environ["HCGW_LOG_FORMAT"] = args.log_format
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the hub reloads on it, not a hangup
    try:
        config = getattr(args, "config", None) or environ.get(CONFIG)
        if config:
            environ[CONFIG] = str(Path(config).absolute())  # workers read the same file
        settings = load_settings(environ.get(CONFIG), environ)
        if settings.redis_cluster and not settings.redis_url:
            raise ConfigError("redis_cluster = true needs redis_url: the URL of one cluster node")
    except ConfigError as exc:
        print(f"{REFUSAL}configuration error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    configure_logging(settings.log_format, level, sys.stderr)

    def reload() -> Settings:
        return load_settings(environ.get(CONFIG), environ)

    run = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        run = uvloop.run
    try:
        if args.command == "worker":
            ready = environ.get(WORKER_READY)
            hub_key = load_or_create_hub_key(Path(settings.trust_key))
            run(
                run_worker(
                    settings,
                    settings.redis_url,
                    hub_key,
                    reuse_port=True,
                    ready_file=Path(ready) if ready else None,
                    reload=reload,
                )
            )
            return 0
        return run(serve(settings, environ, ready_file=args.ready_file, reload=reload))
    except DurabilityRefused as exc:
        print(f"{REFUSAL}{exc}", file=sys.stderr)
        return EXIT_NOT_DURABLE
    except DataDirInUse as exc:
        print(f"{REFUSAL}{exc}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as exc:
        print(f"{REFUSAL}{exc}", file=sys.stderr)
        return EXIT_OS_ERROR
    return 0


def _token(args: argparse.Namespace) -> int:
    """A new token and the ``[[client]]`` entry that enrols it, ready to paste."""
    if args.bytes < 16:
        print("a token needs at least 16 bytes (128 bits)", file=sys.stderr)
        return 2
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    if not set(scopes) <= SCOPES or not args.id or not args.rate > 0:
        print(f"--scopes: some of {sorted(SCOPES)}; --id: a name; --rate: > 0", file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(args.bytes)
    listed = ", ".join(json.dumps(s) for s in scopes)
    print(
        f"""The client's bearer token (hand it to the client only; the hub keeps its SHA-256):

    {token}

Paste into the hub's config file (docs/configuration.md, "[[client]]"), with your own id,
scopes and rate; a running hub picks it up on SIGHUP (kill -HUP <pid of hcgw serve>) or a
restart:

[[client]]
id = {json.dumps(args.id, ensure_ascii=False)}  # a name for this verifier client, e.g. "rail-12306"
token_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"
scopes = [{listed}]  # "verify", "trustlist" or both
rate = {args.rate:g}  # requests per second; burst 2 x rate"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
