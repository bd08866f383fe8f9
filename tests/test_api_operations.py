"""Operations (SPEC §7): health, readiness, the OpenAPI document matching the routes, metrics,
overload, and error bodies that never carry a trace."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from factory import GD, MSGPACK, bearer
from gateway.store.embedded import EmbeddedRedis
from gateway.web.routes import openapi_document
from hubtest import HubClient, MakeHub


@pytest.fixture
async def hub(make_hub: MakeHub) -> HubClient:
    hub = await make_hub()
    r = await hub.post(f"/v1/issuers/{GD}/keys", data=hub.world.key_add(GD), headers=MSGPACK)
    assert r.status == 201
    return hub


async def test_healthz_and_readyz_answer_200_when_redis_and_registry_are_there(
    hub: HubClient,
) -> None:
    assert (await hub.get("/healthz")).status == 200
    r = await hub.get("/readyz")
    assert r.status == 200 and (await r.json())["ready"] is True
    assert (await hub.head("/healthz")).status == 200


async def test_every_route_of_the_app_is_in_the_openapi_document(hub: HubClient) -> None:
    served = {
        (route.method, route.resource.canonical)
        for route in hub.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    document: dict[str, Any] = openapi_document()
    paths = document["paths"]
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops if m != "parameters"}
    assert served == documented
    r = await hub.get("/openapi.json")
    assert (await r.json())["openapi"].startswith("3.1")


async def test_metrics_count_verifications_by_issuer_and_outcome(hub: HubClient) -> None:
    code = hub.world.code(GD)
    for raw in (code, code, b"junk"):
        await hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK})
    text = await (await hub.get("/metrics")).text()
    assert 'hcgw_verifications_total{iss="440000",outcome="green"} 2.0' in text
    assert 'hcgw_verifications_total{iss="unknown",outcome="malformed"} 1.0' in text
    assert 'hcgw_cache_total{layer="local",outcome="hit"} 1.0' in text
    assert "hcgw_request_duration_seconds_bucket" in text and "hcgw_redis_up 1.0" in text


async def test_past_the_inflight_limit_the_hub_answers_503_overloaded_at_once(
    make_hub: MakeHub, fresh_redis: EmbeddedRedis
) -> None:
    hub = await make_hub(url=fresh_redis.url, max_inflight=2)
    r = await hub.post(f"/v1/issuers/{GD}/keys", data=hub.world.key_add(GD), headers=MSGPACK)
    assert r.status == 201
    raw = hub.world.code(GD)
    fresh_redis.pause()  # requests now wait on Redis, up to the deadline: two stay in flight
    try:
        held = [
            asyncio.create_task(hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK}))
            for _ in range(2)
        ]
        while hub.hub.metrics.inflight_requests() < 2:  # noqa: ASYNC110 - polls a gauge
            await asyncio.sleep(0.005)
        r = await hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK})
        assert r.status == 503 and (await r.json())["error"] == "overloaded"
        assert int(r.headers["Retry-After"]) >= 1
        assert [t.status for t in await asyncio.gather(*held)] == [503, 503]  # unavailable
    finally:
        fresh_redis.resume()
    r = await hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK})
    assert r.status == 200


async def test_an_unexpected_error_is_a_500_without_a_trace(aiohttp_client: AiohttpClient) -> None:
    from gateway.metrics import Metrics
    from gateway.web.middleware import Gate

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    app = web.Application(middlewares=[Gate(Metrics([GD]), 10).middleware])
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    r = await client.get("/broken")
    body = await r.json()
    assert r.status == 500 and "secret" not in str(body) and "Traceback" not in str(body)
