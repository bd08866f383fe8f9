"""``hcgw``: the gateway's command line.

    hcgw serve     run the hub (embedded redis-server unless redis_url is set; --workers N)
    hcgw token     make a verifier client's bearer token and the digest the config stores
    hcgw keygen    make the hub's trust-list signing key (serve makes it when missing)

This is the only module that reads ``os.environ`` and the process's clock defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.config import ConfigError, load_settings
from gateway.offline import commands as offline
from gateway.server import load_or_create_hub_key, run_worker, serve
from gateway.store.embedded import DataDirInUse
from gateway.web.hub import DurabilityRefused

log = logging.getLogger("hcgw")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hcgw", description="Health-code mutual-recognition gateway")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the hub")
    s.add_argument("--config", help="TOML config file (default: $HCGW_CONFIG)")
    s.add_argument("--listen", help="host:port, overrides [gateway] listen")
    s.add_argument("--redis-url", help="redis:// or unix:// URL; empty starts an embedded one")
    s.add_argument("--ready-file", type=Path, help="write host:port here once listening")
    s.add_argument("--workers", type=int, help="worker processes on one port (SO_REUSEPORT)")
    sub.add_parser("worker", help=argparse.SUPPRESS)  # started by the supervisor
    t = sub.add_parser("token", help="make a client token and its SHA-256 for [[client]]")
    t.add_argument("--bytes", type=int, default=32, help="token entropy in bytes (at least 16)")
    k = sub.add_parser("keygen", help="make the hub's trust-list key")
    k.add_argument("path", type=Path)
    offline.add_commands(sub, os.environ)  # trustlist fetch|show, verify --offline
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in offline.COMMANDS:
        return offline.run(args, os.environ)
    logging.basicConfig(
        level=os.environ.get("HCGW_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if args.command == "token":
        if args.bytes < 16:
            print("a token needs at least 16 bytes (128 bits)", file=sys.stderr)
            return 2
        token = secrets.token_urlsafe(args.bytes)
        print(
            f"token        = {token}\ntoken_sha256 = {hashlib.sha256(token.encode()).hexdigest()}"
        )
        return 0
    if args.command == "keygen":
        load_or_create_hub_key(args.path)
        return 0
    environ = dict(os.environ)
    if getattr(args, "listen", None):
        environ["HCGW_LISTEN"] = args.listen
    if getattr(args, "redis_url", None) is not None:
        environ["HCGW_REDIS_URL"] = args.redis_url
    if getattr(args, "workers", None) is not None:
        environ["HCGW_WORKERS"] = str(args.workers)
    try:
        config = getattr(args, "config", None) or environ.get("HCGW_CONFIG")
        if config:
            environ["HCGW_CONFIG"] = str(Path(config).absolute())  # workers read the same file
        settings = load_settings(environ.get("HCGW_CONFIG"), environ)
        if settings.redis_cluster and not settings.redis_url:
            raise ConfigError("redis_cluster = true needs redis_url: the URL of one cluster node")
    except ConfigError as exc:
        print(f"hcgw: configuration error: {exc}", file=sys.stderr)
        return 2
    run = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        run = uvloop.run
    try:
        if args.command == "worker":
            ready = environ.get("HCGW_WORKER_READY")
            hub_key = load_or_create_hub_key(Path(settings.trust_key))
            run(
                run_worker(
                    settings,
                    settings.redis_url,
                    hub_key,
                    reuse_port=True,
                    ready_file=Path(ready) if ready else None,
                )
            )
            return 0
        return run(serve(settings, environ, ready_file=args.ready_file))
    except DurabilityRefused as exc:
        print(f"hcgw: {exc}", file=sys.stderr)
        return 3
    except DataDirInUse as exc:
        print(f"hcgw: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"hcgw: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
