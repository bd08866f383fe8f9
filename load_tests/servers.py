"""Reference servers: the HTTP limit, and a server that stalls on purpose.

    hcgw-load serve-empty --port 8099
    hcgw-load serve-stall --port 8098 --stall 300ms --every 1s

``serve-empty``: the gateway's server stack (aiohttp, uvloop when installed, no access log)
with none of its work: every POST reads its body and answers ``{}``. ``gateway rate / empty
rate`` is what the hub's own work costs. ``serve-stall`` answers the same, but freezes its
whole event loop for ``--stall`` every ``--every`` (like wrk2's demonstration, which suspends
the server with ^Z): the reference for proving that open-loop latency charges queueing.
Both answer ``GET /healthz`` so a starter can tell they are up.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web


async def empty(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def app() -> web.Application:
    application = web.Application()
    application.router.add_get("/healthz", healthz)
    application.router.add_post("/{tail:.*}", empty)
    return application


async def serve(port: int, stall_s: float = 0.0, every_s: float = 0.0, log: str = "") -> None:
    runner = web.AppRunner(app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    if stall_s > 0 and every_s > 0:
        loop = asyncio.get_running_loop()

        def freeze() -> None:
            start = time.monotonic_ns()
            time.sleep(stall_s)  # the whole server stops answering, on purpose
            if log:  # CLOCK_MONOTONIC is one clock for every process: the self-test reads it
                with open(log, "a") as f:
                    f.write(f"{start} {time.monotonic_ns()}\n")
            loop.call_later(every_s, freeze)

        loop.call_later(every_s, freeze)
    await asyncio.Event().wait()  # until SIGTERM ends the process


def run(port: int, stall_s: float = 0.0, every_s: float = 0.0, log: str = "") -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port, stall_s, every_s, log))
    else:
        uvloop.run(serve(port, stall_s, every_s, log))
