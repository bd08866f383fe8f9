"""``hcgw``: the gateway's command line.

    hcgw serve     run the hub (embedded redis-server unless redis_url is set)
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
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from gateway.config import ConfigError, Settings, load_settings, split_host_port
from gateway.core.crypto import (
    PrivateKey,
    generate_private_key,
    private_key_from_pem,
    private_key_to_pem,
)
from gateway.core.model import Alg
from gateway.store.embedded import EmbeddedRedis
from gateway.web.app import create_admin_app, create_app
from gateway.web.hub import DurabilityRefused

log = logging.getLogger("hcgw")


def load_or_create_hub_key(path: Path) -> PrivateKey:
    if path.exists():
        return private_key_from_pem(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_private_key(Alg.ED25519)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_to_pem(key))
    log.info("created the hub's trust-list key at %s", path)
    return key


async def serve(settings: Settings, *, ready_file: Path | None = None) -> None:
    hub_key = load_or_create_hub_key(Path(settings.trust_key))
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if not redis_url:
        embedded = EmbeddedRedis(Path(settings.data_dir) / "redis")
        await embedded.start()
        redis_url = embedded.url
        log.info("embedded redis-server pid %s at %s", embedded.pid, redis_url)
    try:
        if not settings.issuers:
            log.warning("no [[issuer]] is enrolled: every code will be UNKNOWN_ISSUER")
        app = create_app(settings, redis_url=redis_url, hub_key=hub_key)
        runner = web.AppRunner(app, access_log=log if settings.access_log else None)
        await runner.setup()
        host, port = settings.listen_host_port
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        log.info("hcgw listening on http://%s:%d (workers=1)", host, port)
        admin_runner = None
        if settings.admin_listen:
            admin_runner = web.AppRunner(create_admin_app(app), access_log=None)
            await admin_runner.setup()
            admin_host, admin_port = split_host_port(settings.admin_listen, "admin_listen")
            await web.TCPSite(admin_runner, admin_host, admin_port).start()
            log.info("operator views on http://%s:%d/metrics", admin_host, admin_port)
        if ready_file is not None:
            ready_file.write_text(f"{host}:{port}\n")  # noqa: ASYNC240 - once, at start-up
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("shutting down: finishing requests in flight")
        await runner.cleanup()
        if admin_runner is not None:
            await admin_runner.cleanup()
    finally:
        if embedded is not None:
            await embedded.stop()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hcgw", description="Health-code mutual-recognition gateway")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the hub")
    s.add_argument("--config", help="TOML config file (default: $HCGW_CONFIG)")
    s.add_argument("--listen", help="host:port, overrides [gateway] listen")
    s.add_argument("--redis-url", help="redis:// or unix:// URL; empty starts an embedded one")
    s.add_argument("--ready-file", type=Path, help="write host:port here once listening")
    t = sub.add_parser("token", help="make a client token and its SHA-256 for [[client]]")
    t.add_argument("--bytes", type=int, default=32, help="token entropy in bytes (at least 16)")
    k = sub.add_parser("keygen", help="make the hub's trust-list key")
    k.add_argument("path", type=Path)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
    if args.listen:
        environ["HCGW_LISTEN"] = args.listen
    if args.redis_url is not None:
        environ["HCGW_REDIS_URL"] = args.redis_url
    try:
        settings = load_settings(args.config or environ.get("HCGW_CONFIG"), environ)
        if settings.workers != 1 or settings.redis_cluster:
            raise ConfigError(
                "workers > 1 and redis_cluster = true are not supported yet: "
                "run one process per port on one Redis (docs/configuration.md)"
            )
    except ConfigError as exc:
        print(f"hcgw: configuration error: {exc}", file=sys.stderr)
        return 2
    run = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        run = uvloop.run
    try:
        run(serve(settings, ready_file=args.ready_file))
    except DurabilityRefused as exc:
        print(f"hcgw: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"hcgw: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
