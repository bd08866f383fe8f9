"""The life of one worker process: listen, serve until SIGTERM or SIGINT, finish what is in flight.

``run_worker`` raises the open-file limit, opens the API listener (and the operator listener,
``admin_listen``), holds connections to their limits (``gateway.web.connections``), serves until
SIGTERM or SIGINT, then stops accepting and finishes the requests in flight, bodies and all,
within ``SHUTDOWN_GRACE``. SIGHUP re-reads the config file's ``[[client]]`` entries: a file that
does not load is refused with one line and the clients loaded stay. Once it listens it writes
its ready file (``gateway.handshake``). A lone worker also logs the hub's start-up line
(``announce``); under a supervisor, the supervisor does.

Imports the web layer (``create_app``), the config and the core's key type; never the
supervisor or ``gateway.server``, which start workers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from gateway.config import ConfigError, Settings, split_host_port
from gateway.core.crypto import PrivateKey
from gateway.handshake import write_ready
from gateway.service.clients import Clients
from gateway.web.app import create_admin_app, create_app
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
            write_ready(ready_file, host, port)
        await stop.wait()
        log.info("worker pid %d: stopping, finishing requests in flight", os.getpid())
    finally:
        await runner.cleanup()  # closes the listener first, then waits for handlers
        if admin_runner is not None:
            await admin_runner.cleanup()
