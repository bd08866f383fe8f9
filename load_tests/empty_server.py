"""The limit for HTTP: an aiohttp app whose POST handler reads the body and answers ``{}``.

    python -m load_tests.empty_server --port 8099

Same server stack as the gateway (aiohttp, uvloop when installed, no access log), none of its
work, so ``gateway rate / empty rate`` says what the hub's own work costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiohttp import web


async def empty(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({})


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", empty)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()  # until SIGTERM ends the process


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    run = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        run = uvloop.run
    run(serve(args.port))


if __name__ == "__main__":
    main()
