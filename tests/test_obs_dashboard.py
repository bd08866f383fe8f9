"""The dashboard: a self-contained page and the JSON it polls, whose rates are exactly what a
driver sent between two polls, whose tiles mark a red-share spike, and whose list of recent
management writes holds no personal data. (The page itself runs in test_obs_browser.py.)"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from factory import BJ, GD, HB, MSGPACK, NOW, bearer
from gateway.operator.tiles import TILES
from gateway.store.embedded import EmbeddedRedis
from gateway.web.app import create_admin_app
from hubtest import HubClient, MakeHub
from test_openapi import validator_for


async def registered(make_hub: MakeHub, **overrides: Any) -> HubClient:
    hub = await make_hub(**overrides)
    for iss in (GD, BJ):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=hub.world.key_add(iss), headers=MSGPACK)
        assert r.status == 201
    return hub


async def data(hub: HubClient, window: float = 1) -> dict[str, Any]:
    r = await hub.get(f"/dashboard/data?window={window}")
    assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    doc: dict[str, Any] = await r.json()
    validator_for("DashboardData").validate(doc)
    return doc


async def send(hub: HubClient, codes: list[bytes]) -> None:
    statuses = await asyncio.gather(
        *(hub.post("/v1/verify", data=c, headers={**bearer(), **MSGPACK}) for c in codes)
    )
    assert {r.status for r in statuses} == {200}


def test_the_map_has_the_32_issuers_of_spec_1_each_on_its_own_tile() -> None:
    assert len({t.iss for t in TILES}) == 32 and len({(t.x, t.y) for t in TILES}) == 32
    assert {t.iss[:2] for t in TILES} >= {"11", "44", "65", "66"}
    assert all(re.fullmatch(r"[1-6][0-9]0000", t.iss) for t in TILES)


async def test_the_rates_are_exactly_what_was_sent_between_two_polls(make_hub: MakeHub) -> None:
    hub = await registered(make_hub)
    w = hub.world
    first = await data(hub)
    assert first["window"] is None and first["verifications"]["rate"] is None
    assert len(first["issuers"]) == 32
    last = time.monotonic()
    for round_ in range(3):
        mix = (
            [w.code(GD) for _ in range(12 + round_)]
            + [w.code(BJ, col=2) for _ in range(3)]
            + [w.code(BJ, col=1)]
            + [b"junk"] * 2
        )
        await send(hub, mix)
        await asyncio.sleep(max(0.0, 1.05 - (time.monotonic() - last)))
        last = time.monotonic()
        d = await data(hub)
        seconds = d["window"]
        assert 1.0 <= seconds < 3.0

        def sent(rate: float | None, seconds: float = seconds) -> float:
            assert rate is not None
            return round(rate * seconds, 6)

        v = d["verifications"]
        assert sent(v["rate"]) == len(mix)
        assert sent(v["by_colour"]["green"]["rate"]) == 12 + round_
        assert sent(v["by_colour"]["red"]["rate"]) == 3
        assert sent(v["by_colour"]["yellow"]["rate"]) == 1
        assert sent(v["by_reason"]["malformed"]["rate"]) == 2
        tiles = {t["iss"]: t for t in d["issuers"]}
        assert sent(tiles[GD]["rate"]) == 12 + round_ and sent(tiles[BJ]["red_rate"]) == 3
        assert tiles[HB]["rate"] == 0 and tiles[HB]["enrolled"] and not tiles["310000"]["enrolled"]
        assert sent(d["requests"]["rate"]) == len(mix) + 1  # and the previous poll itself
        assert d["latency"]["/v1/verify"]["count"] == len(mix)
        assert d["cache"]["local"]["window_hit_ratio"] == 0
    assert d["verifications"]["total"] == sum(12 + r + 6 for r in range(3))


async def test_a_tile_is_marked_when_its_red_share_spikes(make_hub: MakeHub) -> None:
    hub = await registered(make_hub)
    w = hub.world
    await data(hub)
    await send(hub, [w.code(GD) for _ in range(40)] + [w.code(BJ, col=2) for _ in range(2)])
    await asyncio.sleep(1.05)
    calm = {t["iss"]: t for t in (await data(hub))["issuers"]}
    assert not any(t["red_spike"] for t in calm.values())
    await send(hub, [w.code(GD, col=2) for _ in range(12)] + [w.code(BJ) for _ in range(20)])
    await asyncio.sleep(1.05)
    spiking = {t["iss"]: t for t in (await data(hub))["issuers"]}
    assert spiking[GD]["red_spike"] and spiking[GD]["red_share"] == 1.0
    assert spiking[GD]["red_share_baseline"] == 0.0
    assert not spiking[BJ]["red_spike"]


async def test_the_last_management_writes_are_listed_newest_first_without_personal_data(
    make_hub: MakeHub,
) -> None:
    hub = await registered(make_hub)
    w = hub.world
    sub = hashlib.sha256(b"someone").digest()[:16]
    replayed = w.status(GD, [[sub, 2, 3, NOW - 2], [sub, 1, 2, NOW - 1]])
    assert (
        await hub.post(f"/v1/issuers/{GD}/status", data=replayed, headers=MSGPACK)
    ).status == 200
    r = await hub.post(f"/v1/issuers/{GD}/status", data=replayed, headers=MSGPACK)
    assert r.status == 409
    kid = w.issuers[BJ].code_key.public.kid
    r = await hub.post(
        f"/v1/issuers/{BJ}/keys/revoke", data=w.message(BJ, "key.revoke", kid=kid), headers=MSGPACK
    )
    assert r.status == 200
    d = await data(hub)
    events = d["events"]
    kid_b64 = base64.urlsafe_b64encode(kid).rstrip(b"=").decode()
    assert [(e["iss"], e["action"], e["outcome"]) for e in events] == [
        (BJ, "key.revoke", "ok"),
        (GD, "status", "replay"),
        (GD, "status", "ok"),
        (BJ, "key.add", "ok"),
        (GD, "key.add", "ok"),
    ]
    assert events[0]["kid"] == kid_b64 and events[2]["applied"] == 1 and events[2]["events"] == 2
    assert all(e["at"] == NOW for e in events)
    text = json.dumps(events)
    for secret in (sub.hex(), base64.b64encode(sub).decode(), sub.decode("latin-1")):
        assert secret not in text
    assert d["status"]["total"] == 1 and d["status"]["lag"]["count"] == 2


async def test_the_page_is_one_self_contained_document_with_a_strict_policy(
    make_hub: MakeHub,
) -> None:
    hub = await make_hub()
    r = await hub.get("/dashboard")
    assert r.status == 200 and r.content_type == "text/html"
    page = await r.text()
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    script = re.search(r"<script>(.*)</script>", page, re.S)
    style = re.search(r"<style>(.*)</style>", page, re.S)
    assert script and style
    for block in (script.group(1), style.group(1)):
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*stylesheet|@import|url\(", page)
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert "dashboard/data" in script.group(1)
    assert (await hub.head("/dashboard")).status == 200


@pytest.mark.parametrize("window", ["0", "0.5", "61", "abc", "nan", "inf"])
async def test_a_window_outside_1_to_60_seconds_is_a_400(make_hub: MakeHub, window: str) -> None:
    hub = await make_hub()
    r = await hub.get(f"/dashboard/data?window={window}")
    assert r.status == 400 and (await r.json())["error"] == "bad_request"


async def test_with_admin_listen_the_dashboard_moves_to_the_operator_listener(
    make_hub: MakeHub, aiohttp_client: AiohttpClient
) -> None:
    hub = await make_hub(admin_listen="127.0.0.1:1")
    admin = await aiohttp_client(create_admin_app(hub.app))
    for path in ("/dashboard", "/dashboard/data", "/metrics"):
        assert (await hub.get(path)).status == 404
        assert (await admin.get(path)).status == 200, path


async def test_the_dashboard_answers_while_the_hub_is_over_its_inflight_limit(
    make_hub: MakeHub, fresh_redis: EmbeddedRedis
) -> None:
    hub = await make_hub(url=fresh_redis.url, max_inflight=1)
    fresh_redis.pause()  # the first request now waits on Redis, up to the deadline
    try:
        held = asyncio.create_task(
            hub.post("/v1/verify", data=b"junk", headers={**bearer(), **MSGPACK})
        )
        while hub.hub.metrics.inflight_requests() < 1:  # noqa: ASYNC110 - polls a count
            await asyncio.sleep(0.005)
        r = await hub.post("/v1/verify", data=b"junk", headers={**bearer(), **MSGPACK})
        assert r.status == 503 and (await r.json())["error"] == "overloaded"
        assert (await hub.get("/dashboard")).status == 200
        d = await data(hub)
        assert d["redis"]["up"] is False and d["requests"]["inflight"] == 1
        assert d["requests"]["rejected"]["overloaded"]["total"] == 1
    finally:
        fresh_redis.resume()
    assert (await held).status in (200, 503)  # answered, or unavailable past the deadline
