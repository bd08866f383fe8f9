"""Running the hub: one worker process's listener loop, and the embedded Redis around it.

``serve`` owns what exists once per hub (the embedded Redis, the trust-list key) and then either
runs one worker in this process or starts the supervisor of N workers (``gateway.supervisor``),
which share one port through SO_REUSEPORT. ``run_worker`` is the life of one worker: raise its
open-file limit, listen (``gateway.web.connections`` holds connections to their limits), serve
until SIGTERM or SIGINT, then stop accepting and finish the requests in flight, bodies and all.
SIGHUP re-reads the config file's ``[[client]]`` entries: a file that does not load is refused
with one line and the clients loaded stay. The hub's first line names its URLs and what it
loaded (``announce``), its last says it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import secrets
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from gateway.config import ConfigError, Settings, split_host_port
from gateway.core.crypto import (
    PrivateKey,
    generate_private_key,
    private_key_from_pem,
    private_key_to_pem,
)
from gateway.core.model import Alg
from gateway.store.embedded import EmbeddedRedis
from gateway.web.app import create_admin_app, create_app
from gateway.web.auth import Clients
from gateway.web.connections import (
    ADMIN_CONNECTIONS,
    ConnectionLimits,
    HubRunner,
    connection_cap,
    raise_open_file_limit,
)
from gateway.web.hub import HUB

log = logging.getLogger("hcgw")

SHUTDOWN_GRACE = 30.0  # seconds in-flight requests get after SIGTERM

Reload = Callable[[], Settings]  # reads the config file again, or raises ConfigError


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def bound(runner: web.BaseRunner) -> tuple[str, int]:
    """The host and the real port of a runner's one listener (``listen`` may ask for port 0)."""
    address = runner.addresses[0]
    return str(address[0]), int(address[1])


def announce(
    settings: Settings, api: tuple[str, int], admin: tuple[str, int] | None, workers: int
) -> None:
    """The hub's start-up line: where its API and operator views are, what it loaded."""
    api_url = _url(*api)
    admin_url = _url(*admin) if admin is not None else api_url
    fields = {
        "event": "start",
        "api": api_url,
        "admin": admin_url,
        "dashboard": f"{admin_url}/dashboard",
        "metrics": f"{admin_url}/metrics",
        "issuers": len(settings.issuers),
        "clients": len(settings.clients),
        "workers": workers,
        "pid": os.getpid(),
    }
    log.info(
        "hub ready: API %s, admin %s, dashboard %s; %d issuers, %d clients, %d worker%s",
        api_url,
        admin_url,
        fields["dashboard"],
        len(settings.issuers),
        len(settings.clients),
        workers,
        "" if workers == 1 else "s",
        extra={"fields": fields},
    )


def reload_clients(app: web.Application, reload: Reload) -> None:
    """SIGHUP: the ``[[client]]`` entries of the config file replace the ones loaded, or, if
    the file does not load, stay as they are. Nothing else of the file changes at run time."""
    hub = app[HUB]
    try:
        fresh = reload().clients
    except ConfigError as exc:
        log.error(
            "worker pid %d: SIGHUP: config file refused, its %d clients stay: %s",
            os.getpid(),
            len(hub.clients),
            exc,
            extra={"fields": {"event": "clients_refused"}},
        )
        return
    change = hub.clients.change_to(fresh)
    hub.clients = Clients(fresh)  # one reference: a request sees the old set or the new one
    log.info(
        "worker pid %d: SIGHUP: %d clients loaded (%s)",
        os.getpid(),
        len(fresh),
        change,
        extra={"fields": {"event": "clients_reloaded", "clients": len(fresh)}},
    )


def load_or_create_hub_key(path: Path) -> PrivateKey:
    """The hub's trust-list key, created on first start. Processes starting together (gunicorn's
    workers) may race: each writes a whole file aside and links it into place, which succeeds
    for one; the others read the winner's, never a half-written file."""
    if path.exists():
        return private_key_from_pem(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_private_key(Alg.ED25519)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(private_key_to_pem(key))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(aside, path)  # atomic, and refuses to replace a key that is there
        except FileExistsError:
            return private_key_from_pem(path.read_bytes())
    finally:
        aside.unlink(missing_ok=True)
    log.info("created the hub's trust-list key at %s", path)
    return key


async def run_worker(
    settings: Settings,
    redis_url: str,
    hub_key: PrivateKey,
    *,
    reuse_port: bool = False,
    ready_file: Path | None = None,
    reload: Reload | None = None,
    announce_as: int = 0,
) -> None:
    """One worker's life. ``reload`` is what SIGHUP calls; ``announce_as`` (the hub's number of
    workers) makes this worker log the hub's start-up line, which a supervisor logs itself."""
    before, open_files, hard = raise_open_file_limit()
    cap = connection_cap(open_files, settings.max_connections)
    admin_cap = min(ADMIN_CONNECTIONS, max(1, cap // 2)) if settings.admin_listen else 0
    limits = ConnectionLimits(max(1, cap - admin_cap), settings.header_timeout)
    log.info(
        "worker pid %d: open-file limit %d (hard %s%s), at most %d connections, "
        "a request head within %g s",
        os.getpid(),
        open_files,
        "unlimited" if hard == resource.RLIM_INFINITY else hard,
        f", raised from {before}" if open_files > before else "",
        limits.max_connections,
        limits.header_timeout,
    )
    app = create_app(settings, redis_url=redis_url, hub_key=hub_key)
    runner = HubRunner(
        app,
        limits=limits,
        count_error=lambda error: app[HUB].metrics.count_error(error),
        access_log=log if settings.access_log else None,
        shutdown_timeout=SHUTDOWN_GRACE,
    )
    await runner.setup()
    admin_runner: web.AppRunner | None = None
    try:
        host, port = settings.listen_host_port
        await web.TCPSite(runner, host, port, backlog=1024, reuse_port=reuse_port).start()
        host, port = bound(runner)
        if settings.admin_listen:
            admin_runner = HubRunner(
                create_admin_app(app),
                limits=ConnectionLimits(admin_cap, settings.header_timeout),
                count_error=lambda error: app[HUB].metrics.count_error(error),
            )
            await admin_runner.setup()
            admin_host, admin_port = split_host_port(settings.admin_listen, "admin_listen")
            await web.TCPSite(admin_runner, admin_host, admin_port, reuse_port=reuse_port).start()
        log.info("worker pid %d listening on %s", os.getpid(), _url(host, port))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if reload is not None:
            loop.add_signal_handler(signal.SIGHUP, reload_clients, app, reload)
        if announce_as:
            announce(
                settings,
                (host, port),
                bound(admin_runner) if admin_runner is not None else None,
                announce_as,
            )
        if ready_file is not None:
            ready_file.write_text(f"{host}:{port}\n")  # noqa: ASYNC240 - once, at start-up
        await stop.wait()
        log.info("worker pid %d: stopping, finishing requests in flight", os.getpid())
    finally:
        await runner.cleanup()  # closes the listener first, then waits for handlers
        if admin_runner is not None:
            await admin_runner.cleanup()


async def serve(
    settings: Settings, environ: dict[str, str], *, ready_file: Path | None, reload: Reload
) -> int:
    """Run the hub: the embedded Redis if no URL is set, then one worker or a supervisor."""
    hub_key = load_or_create_hub_key(Path(settings.trust_key))
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if not redis_url:
        embedded = EmbeddedRedis(Path(settings.data_dir) / "redis")
        await embedded.start()
        redis_url = embedded.url
        log.info("embedded Redis-protocol server pid %s at %s", embedded.pid, redis_url)
    try:
        if not settings.issuers:
            log.warning("no [[issuer]] is enrolled: every code will be UNKNOWN_ISSUER")
        if settings.workers == 1:
            await run_worker(
                settings, redis_url, hub_key, ready_file=ready_file, reload=reload, announce_as=1
            )
            code = 0
        else:
            from gateway.supervisor import Supervisor

            supervisor = Supervisor(settings, {**environ, "HCGW_REDIS_URL": redis_url}, reload)
            code = await supervisor.run(ready_file)
    finally:
        if embedded is not None:
            await embedded.stop()
    log.info("hub stopped (exit %d)", code, extra={"fields": {"event": "stop", "exit": code}})
    return code
