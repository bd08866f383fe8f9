"""The operator views: ``GET /metrics``, ``GET /dashboard`` and the JSON it polls.

All three are served where ``add_operator_routes`` puts them (the main listener, or the
``admin_listen`` one). Before answering, each refreshes the gauges of shared state
(``dashboard_scrape``): every scrape of /metrics, and at most twice a second per process for
the dashboard's polls, however many pages are open. The page is
one self-contained HTML document (``static/dashboard.*``, inlined at import; no CDN, no external
script) whose script polls ``dashboard/data`` every second.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from gateway.errors import BadRequest
from gateway.metrics.exposition import exposition, families
from gateway.web.dashboard_data import DEFAULT_WINDOW, MAX_WINDOW, History, Reading, build
from gateway.web.dashboard_scrape import refresh_gauges
from gateway.web.hub import HUB, Hub

REFRESH_EVERY = 0.5  # seconds: operator views refresh shared-state gauges at most this often


@dataclass(slots=True)
class OperatorViews:
    """Per-app state of the operator views: the readings behind the rates, the last refresh."""

    history: History = field(default_factory=History)
    refreshed: float = -math.inf


OPERATOR_VIEWS = web.AppKey("operator_views", OperatorViews)


def _page() -> tuple[str, str]:
    """The page with its script and style inlined, and the CSP that allows exactly those."""
    static = resources.files("gateway.web") / "static"
    html = (static / "dashboard.html").read_text(encoding="utf-8")
    script = (static / "dashboard.js").read_text(encoding="utf-8")
    style = (static / "dashboard.css").read_text(encoding="utf-8")

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    page = html.replace("/*STYLE*/", style).replace("/*SCRIPT*/", script)
    csp = (
        "default-src 'none'; connect-src 'self'; img-src data:; "
        f"script-src {digest(script)}; style-src {digest(style)}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return page, csp


PAGE, PAGE_CSP = _page()


async def _refreshed(request: web.Request, *, always: bool = False) -> Hub:
    hub = request.app[HUB]
    views = request.app[OPERATOR_VIEWS]
    now = time.monotonic()
    if always or now - views.refreshed >= REFRESH_EVERY:
        views.refreshed = now
        await refresh_gauges(hub)
    return hub


async def metrics(request: web.Request) -> web.Response:
    hub = await _refreshed(request, always=True)  # scrapes are rare; each gets fresh gauges
    body = exposition(hub.metrics.registry, hub.metrics.multiprocess_dir)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


async def dashboard(request: web.Request) -> web.Response:
    return web.Response(
        text=PAGE,
        content_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
    )


async def dashboard_data(request: web.Request) -> web.Response:
    raw = request.query.get("window", "")
    try:
        window = float(raw) if raw else DEFAULT_WINDOW
    except ValueError:
        window = math.nan
    if not 1.0 <= window <= MAX_WINDOW:  # also refuses nan
        raise BadRequest(f"window must be a number of seconds from 1 to {MAX_WINDOW:.0f}")
    hub = await _refreshed(request)
    m = hub.metrics
    doc = build(
        Reading(families(m.registry, m.multiprocess_dir)),
        request.app[OPERATOR_VIEWS].history,
        window=window,
        wall_now=hub.clock(),
        issuers=hub.issuers,
        events=m.events.recent(),
        pid=os.getpid(),
    )
    return web.json_response(doc, headers={"Cache-Control": "no-store"})


def add_dashboard_routes(app: web.Application) -> None:
    app[OPERATOR_VIEWS] = OperatorViews()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/dashboard/data", dashboard_data)
