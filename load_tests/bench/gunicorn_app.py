"""The gateway under gunicorn with aiohttp's worker: the alternative to our supervisor, measured.

``gunicorn load_tests.bench.gunicorn_app:app --worker-class aiohttp.GunicornUVLoopWebWorker``
builds, in every gunicorn worker, the very application ``hcgw worker`` serves, from the same
``HCGW_*`` environment (``HCGW_CONFIG``, ``HCGW_REDIS_URL``). It exists so ``hcgw-load bench``
can compare gunicorn's pre-fork model (one listening socket shared by the workers) with the
supervisor's SO_REUSEPORT (one socket per worker, the kernel spreading connections); the hub
itself is run with ``hcgw serve --workers N`` (docs/scale.md says why).
"""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web

from gateway.config import load_settings
from gateway.keyfile import load_or_create_hub_key
from gateway.web.app import create_app


async def app() -> web.Application:
    settings = load_settings(os.environ.get("HCGW_CONFIG"), os.environ)
    if not settings.redis_url:
        raise SystemExit("gunicorn_app: set HCGW_REDIS_URL (gunicorn starts no embedded Redis)")
    hub_key = load_or_create_hub_key(Path(settings.trust_key))
    application = create_app(settings, redis_url=settings.redis_url, hub_key=hub_key)
    application.on_startup.append(_mark_ready)
    return application


async def _mark_ready(_: web.Application) -> None:
    """``HCGW_READY_DIR/<pid>`` once this worker's hub is set up (its listener opens next), so
    the bench can wait for every worker: gunicorn's own readiness is its master's socket."""
    directory = os.environ.get("HCGW_READY_DIR")
    if directory:
        (Path(directory) / str(os.getpid())).touch()
