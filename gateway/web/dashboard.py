"""The operator views' HTTP adapters: ``GET /metrics``, ``GET /dashboard`` and the JSON it polls.

All three are routes of ``web.routes``, served where ``add_operator_routes`` puts them (the main
listener, or the ``admin_listen`` one); what they compute is ``gateway.operator``'s. The page
is one self-contained HTML document (``static/dashboard.*``, inlined at import; no CDN, no external
script) whose script polls ``dashboard/data`` every second.
"""

from __future__ import annotations

import base64
import hashlib
import math
from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from gateway.errors import BadRequest
from gateway.operator.figures import DEFAULT_WINDOW, MAX_WINDOW
from gateway.web.answers import json_response
from gateway.web.hub import HUB


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


async def metrics(request: web.Request) -> web.Response:
    body = await request.app[HUB].operator.metrics_text()
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
    doc = await request.app[HUB].operator.dashboard_data(window)
    return json_response(doc, headers={"Cache-Control": "no-store"})
