"""HTTP handlers: read the body within its limit, call a service, render the answer.

Business rules live in the services and the core; errors are raised and rendered by the
middleware. Every handler reads the clock at most once, through the hub.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from aiohttp import web

from gateway.core.wire import encode_b64url
from gateway.errors import HcgwError, Unavailable
from gateway.web import bodies
from gateway.web.answers import json_response
from gateway.web.hub import HUB, Hub
from gateway.web.verdicts import encode_verdict, encode_verdicts
from gateway.web.verdicts import render_verdict as render_verdict  # the dict form, for tests

BodyReader = Callable[[int, tuple[str, ...]], Awaitable[tuple[str, bytes]]]


class Rendered(NamedTuple):
    """Verdicts as the answer's body: JSON (``application/json; charset=utf-8``) or msgpack."""

    body: bytes
    msgpack: bool
    status: int = 200

    def response(self) -> web.Response:
        if self.msgpack:
            return web.Response(body=self.body, content_type=bodies.MSGPACK)
        return web.Response(body=self.body, content_type=bodies.JSON, charset="utf-8")


async def answer_verification(
    hub: Hub, headers: Mapping[str, str], read: BodyReader, *, batch: bool
) -> Rendered:
    """``/v1/verify`` or ``/v1/verify/batch``: ``read(limit, media types)`` gives the body.
    aiohttp's handlers below call it, and so does ``gateway.web.fastpath``."""
    now = int(hub.clock())
    client = hub.clients.authenticate(headers.get("Authorization", ""), "verify")
    try:
        if batch:
            kind, body = await read(bodies.BATCH_MAX, (bodies.MSGPACK, bodies.JSON))
            envelopes = bodies.batch_codes(kind, body)
        else:
            kind, body = await read(bodies.SINGLE_MAX, (bodies.MSGPACK, bodies.TEXT, bodies.JSON))
            envelopes = [bodies.single_code(kind, body)]
    except HcgwError:
        await hub.verification.charge(client)  # 429 goes first
        raise
    verdicts = await hub.verification.verify(envelopes, now, client)
    as_msgpack = bodies.wants_msgpack(headers.get("Accept"))
    if batch:
        return Rendered(encode_verdicts(verdicts, as_msgpack=as_msgpack), as_msgpack)
    (verdict,) = verdicts
    return Rendered(encode_verdict(verdict, as_msgpack=as_msgpack), as_msgpack)


async def verify_one(request: web.Request) -> web.Response:
    read = functools.partial(bodies.read_body, request)
    rendered = await answer_verification(request.app[HUB], request.headers, read, batch=False)
    return rendered.response()


async def verify_batch(request: web.Request) -> web.Response:
    read = functools.partial(bodies.read_body, request)
    rendered = await answer_verification(request.app[HUB], request.headers, read, batch=True)
    return rendered.response()


async def trust_list(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    client = hub.clients.authenticate(request.headers.get("Authorization", ""), "trustlist")
    await hub.verification.charge(client)
    signed = await hub.trust.signed_list()
    headers = {"ETag": signed.etag, "Cache-Control": "no-cache"}
    held = request.headers.get("If-None-Match", "")
    if held.strip() == "*" or signed.etag in (
        t.strip().removeprefix("W/") for t in held.split(",")
    ):
        return web.Response(status=304, headers=headers)
    return web.Response(body=signed.envelope, content_type=bodies.MSGPACK, headers=headers)


async def trust_list_key(request: web.Request) -> web.Response:
    public = request.app[HUB].hub_key.public
    return json_response({"alg": public.alg.value, "spki": encode_b64url(public.spki)})


async def _management(request: web.Request, typ: str) -> web.Response:
    hub = request.app[HUB]
    # SPEC §4's order: body size and type first, then the path's issuer (in the service).
    _, body = await bodies.read_body(request, bodies.ADMIN_MAX, (bodies.MSGPACK,))
    answer = await hub.management.handle(request.match_info["iss"], typ, body)
    return json_response(answer.body, status=answer.status)


async def add_key(request: web.Request) -> web.Response:
    return await _management(request, "key.add")


async def revoke_key(request: web.Request) -> web.Response:
    return await _management(request, "key.revoke")


async def post_status(request: web.Request) -> web.Response:
    return await _management(request, "status")


async def get_mark(request: web.Request) -> web.Response:
    return json_response(
        {"mark": await request.app[HUB].management.mark(request.match_info["iss"])}
    )


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    reasons = await request.app[HUB].readiness()
    if reasons:
        error = Unavailable("not ready: " + "; ".join(reasons))
        return json_response(
            {"ready": False, "reasons": reasons, **error.body()}, status=503, headers=error.headers
        )
    return json_response({"ready": True, "reasons": []})
