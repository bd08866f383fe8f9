"""Metrics (SPEC §7 and the operator's extras) after known traffic, in one process: what was
sent is what is counted, by issuer, outcome, cache layer, client, error and route; gauges of
shared state are fresh at scrape; label values stay in fixed sets whatever clients send."""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import random
import re
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path

from aiohttp import ClientResponse
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from factory import (
    BJ,
    GD,
    HB,
    MSGPACK,
    NOW,
    SLOW_TOKEN,
    VERIFY_TOKEN,
    World,
    b64,
    bearer,
    claims,
    envelope,
    pack,
)
from gateway.core.crypto import PrivateKey, generate_private_key
from gateway.core.model import Alg, Domain
from gateway.metrics import observe_many
from gateway.metrics.catalogue import (
    CLIENT_REJECTIONS,
    ERRORS,
    KEY_STATES,
    LAYERS,
    OUTCOMES,
    REDIS_OPS,
    REJECTIONS,
    build,
)
from gateway.store.embedded import EmbeddedRedis
from hubtest import HubClient, MakeHub

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Series:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(hub: HubClient) -> Series:
    r = await hub.get("/metrics")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(await r.text())


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, tuple(sorted(labels.items()))), 0.0)


def sub(i: int) -> bytes:
    return hashlib.sha256(f"subject {i}".encode()).digest()[:16]


async def verify(
    hub: HubClient, body: bytes, token: str = VERIFY_TOKEN, path: str = "/v1/verify"
) -> ClientResponse:
    return await hub.post(path, data=body, headers={**bearer(token), **MSGPACK})


async def test_known_traffic_is_counted_by_issuer_outcome_layer_client_and_route(
    make_hub: MakeHub,
) -> None:
    hub = await make_hub()
    w = hub.world
    for iss in (GD, BJ):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=w.key_add(iss), headers=MSGPACK)
        assert r.status == 201
    r = await hub.post(
        f"/v1/issuers/{GD}/status", data=w.status(GD, [[sub(1), 2, 5, NOW - 30]]), headers=MSGPACK
    )
    assert r.status == 200
    green = w.code(GD, sub=sub(0))
    for body in (
        green,
        green,  # the second is a local cache hit
        w.code(GD, sub=sub(1), sv=1),  # red by status
        w.code(BJ, col=1, sub=sub(2)),
        b"junk",
        w.code("999999", key=w.issuers[GD].code_key),  # not enrolled
    ):
        assert (await verify(hub, body)).status == 200
    batch = pack([w.code(HB), w.code(GD, sub=sub(3)), w.code(GD, sub=sub(4)), "not bin"])
    assert (await verify(hub, batch, path="/v1/verify/batch")).status == 200
    assert (await verify(hub, green, token="t-unknown-" + "x" * 30)).status == 401
    statuses = [(await verify(hub, green, token=SLOW_TOKEN)).status for _ in range(8)]
    assert 429 in statuses

    m = await scrape(hub)
    v = "hcgw_verifications_total"
    assert value(m, v, iss=GD, outcome="green") == 4 + statuses.count(200)
    assert value(m, v, iss=GD, outcome="red") == 1
    assert value(m, v, iss=BJ, outcome="yellow") == 1
    assert value(m, v, iss=HB, outcome="unknown_kid") == 1
    assert value(m, v, iss="unknown", outcome="malformed") == 2  # junk, "not bin"
    assert value(m, v, iss="unknown", outcome="unknown_issuer") == 1
    assert sum(x for (n, _), x in m.items() if n == v) == 10 + statuses.count(200)
    # Local: every element that is bytes is looked up, before the rate is charged; the repeats
    # of `green` hit (the slow client's too). Redis: codes whose key was found, first seen.
    assert value(m, "hcgw_cache_total", layer="local", outcome="hit") == 1 + 8
    assert value(m, "hcgw_cache_total", layer="local", outcome="miss") == 8
    assert value(m, "hcgw_cache_total", layer="redis", outcome="miss") == 5
    assert value(m, "hcgw_client_requests_total", client="terminal") == 7
    assert value(m, "hcgw_client_codes_total", client="terminal") == 10
    assert value(m, "hcgw_client_requests_total", client="slow") == 8
    assert value(m, "hcgw_client_rejected_total", client="slow", reason="rate_limited") == (
        statuses.count(429)
    )
    assert value(m, "hcgw_rejected_total", reason="rate_limited") == statuses.count(429)
    errors = "hcgw_errors_total"
    assert value(m, errors, error="rate_limited", route="/v1/verify") == statuses.count(429)
    assert value(m, errors, error="unauthenticated", route="/v1/verify") == 1
    route = "hcgw_request_duration_seconds_count"
    assert value(m, route, route="/v1/verify") == 6 + 1 + 8
    assert value(m, route, route="/v1/verify/batch") == 1
    assert value(m, route, route="/v1/issuers/{iss}/keys") == 2
    answers = "hcgw_requests_total"
    single = {"route": "/v1/verify", "method": "POST"}
    assert value(m, answers, **single, code="200") == 6 + statuses.count(200)
    assert value(m, answers, **single, code="401") == 1
    assert value(m, answers, **single, code="429") == statuses.count(429)
    assert value(m, answers, route="/v1/verify/batch", method="POST", code="200") == 1
    assert value(m, answers, route="/v1/issuers/{iss}/keys", method="POST", code="201") == 2
    assert value(m, answers, route="/v1/issuers/{iss}/status", method="POST", code="200") == 1
    assert sum(x for (n, _), x in m.items() if n == answers) == 6 + 1 + 8 + 1 + 2 + 1
    assert value(m, "hcgw_redis_lookup_seconds_count") == 7 + 8  # 429 is decided in Redis
    assert value(m, "hcgw_status_events_total", iss=GD) == 1
    assert value(m, "hcgw_status_event_lag_seconds_count") == 1
    assert value(m, "hcgw_status_event_lag_seconds_sum") == 30
    assert value(m, "hcgw_status_event_lag_seconds_bucket", le="10.0") == 0
    assert value(m, "hcgw_status_event_lag_seconds_bucket", le="30.0") == 1
    assert value(m, "hcgw_redis_up") == 1 and value(m, "hcgw_redis_keys") > 0
    assert value(m, "hcgw_local_cache_entries") == len(hub.hub.local) > 0
    assert value(m, "hcgw_inflight_requests") == 0


async def test_answers_are_counted_by_route_method_and_status_and_errors_by_route(
    make_hub: MakeHub,
) -> None:
    hub = await make_hub()
    assert (await hub.get("/no/such/path")).status == 404
    assert (await hub.request("HEAD", "/healthz")).status == 200
    assert (await hub.request("PROPFIND", "/v1/verify")).status == 405
    assert (await hub.post("/v1/verify", data=b"x", headers=MSGPACK)).status == 401
    m = await scrape(hub)
    answers, errors = "hcgw_requests_total", "hcgw_errors_total"
    assert value(m, answers, route="unmatched", method="GET", code="404") == 1
    assert value(m, answers, route="/healthz", method="HEAD", code="200") == 1
    assert value(m, answers, route="unmatched", method="other", code="405") == 1  # not PROPFIND
    assert value(m, answers, route="/v1/verify", method="POST", code="401") == 1
    assert value(m, errors, error="not_found", route="unmatched") == 1
    assert value(m, errors, error="method_not_allowed", route="unmatched") == 1
    assert value(m, errors, error="unauthenticated", route="/v1/verify") == 1
    # "4xx by route", the question the route label is for
    by_route: dict[str, float] = {}
    for (name, labels), x in m.items():
        if name == answers and dict(labels)["code"].startswith("4"):
            by_route[dict(labels)["route"]] = by_route.get(dict(labels)["route"], 0) + x
    assert by_route == {"unmatched": 2, "/v1/verify": 1}


def _is_commit(revision: str) -> bool:
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
        cwd=Path(__file__).parent, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.returncode == 0


async def test_build_info_process_metrics_by_pid_and_no_created_series(make_hub: MakeHub) -> None:
    hub = await make_hub()
    for _ in range(50):
        await verify(hub, b"junk")  # some CPU time to see
    r = await hub.get("/metrics")
    text = await r.text()
    m = parse(text)
    assert "_created" not in text
    (labels, one), *others = [(dict(k), x) for (n, k), x in m.items() if n == "hcgw_build_info"]
    assert one == 1 and not others
    assert labels["version"] == metadata.version("hcgw")
    assert labels["python_version"] == platform.python_version()
    # The commit checked out when this process first built its metrics (others may commit since).
    if shutil.which("git") is None:
        assert labels["revision"] == "unknown"
    else:
        assert re.fullmatch("[0-9a-f]{12}", labels["revision"]), labels
        assert await asyncio.to_thread(_is_commit, labels["revision"])
    pid = str(os.getpid())
    assert 0 < value(m, "process_cpu_seconds_total", pid=pid) < time.process_time() + 1
    assert value(m, "process_resident_memory_bytes", pid=pid) > 10 * 2**20
    assert 0 < value(m, "process_open_fds", pid=pid) <= value(m, "process_max_fds", pid=pid)
    started = value(m, "process_start_time_seconds", pid=pid)
    assert time.time() - 3600 < started < time.time()
    assert {dict(labels).get("pid") for n, labels in m if n.startswith("process_")} == {pid}


async def test_trust_gauges_show_keys_by_state_keys_near_naf_and_the_list_served(
    make_hub: MakeHub,
) -> None:
    hub = await make_hub()
    w, now = hub.world, NOW
    soon = generate_private_key(Alg.ED25519)
    adds = [
        (GD, w.key_add(GD, naf=now + 30 * 86_400)),
        (GD, w.key_add(GD, soon, naf=now + 3600)),  # expiring within 24 h
        (BJ, w.key_add(BJ, nbf=now - 7200, naf=now - 60)),  # already past its naf
    ]
    for iss, body in adds:
        assert (await hub.post(f"/v1/issuers/{iss}/keys", data=body, headers=MSGPACK)).status == 201
    kid = w.issuers[GD].code_key.public.kid
    revoke = w.message(GD, "key.revoke", kid=kid)
    assert (
        await hub.post(f"/v1/issuers/{GD}/keys/revoke", data=revoke, headers=MSGPACK)
    ).status == 200

    m = await scrape(hub)
    assert value(m, "hcgw_trust_keys", iss=GD, state="active") == 1
    assert value(m, "hcgw_trust_keys", iss=GD, state="revoked") == 1
    assert value(m, "hcgw_trust_keys", iss=BJ, state="expired") == 1
    assert value(m, "hcgw_trust_keys", iss=HB, state="active") == 0
    assert value(m, "hcgw_trust_keys_expiring", iss=GD) == 1
    assert value(m, "hcgw_trust_signing_until_timestamp_seconds", iss=GD) == now + 3600
    assert value(m, "hcgw_trust_signing_until_timestamp_seconds", iss=BJ) == 0
    assert value(m, "hcgw_trust_list_version") == 5  # four registry changes, counted from 1
    assert value(m, "hcgw_trust_list_issued_timestamp_seconds") == now
    assert value(m, "hcgw_trust_list_expiry_timestamp_seconds") == now + 3600
    hub.clock.now = now + 7200  # the soon key's naf has passed: expired at the next scrape
    m = await scrape(hub)
    assert value(m, "hcgw_trust_keys", iss=GD, state="expired") == 1
    assert value(m, "hcgw_trust_keys_expiring", iss=GD) == 0


async def test_redis_up_falls_to_0_when_redis_hangs_and_comes_back(
    make_hub: MakeHub, fresh_redis: EmbeddedRedis
) -> None:
    hub = await make_hub(url=fresh_redis.url)
    assert value(await scrape(hub), "hcgw_redis_up") == 1
    fresh_redis.pause()
    try:
        m = await scrape(hub)
        assert value(m, "hcgw_redis_up") == 0
        assert value(m, "hcgw_redis_errors_total", op="ping") >= 1
    finally:
        fresh_redis.resume()
    assert value(await scrape(hub), "hcgw_redis_up") == 1


async def test_label_values_stay_in_fixed_sets_after_10000_requests_with_random_issuers_and_kids(
    make_hub: MakeHub,
) -> None:
    hub = await make_hub()
    w = hub.world
    assert (await hub.post(f"/v1/issuers/{GD}/keys", data=w.key_add(GD), headers=MSGPACK)).status
    before = set(await scrape(hub))
    rng = random.Random(5)
    signer = w.issuers[GD].code_key
    sent: set[str] = set()

    def random_code() -> bytes:
        iss = rng.choice([GD, BJ, HB, f"{rng.randrange(10**6):06d}"])
        kid = os.urandom(8) if rng.random() < 0.7 else None
        sent.add(iss)
        return w.code(iss, key=signer) if kid is None else _with_kid(w, iss, signer, kid)

    async def one(i: int) -> int:
        kind = i % 10
        if kind < 7:
            return (await verify(hub, random_code())).status
        if kind == 7:  # a path nobody routes, carrying a random issuer and kid
            iss, kid = f"{rng.randrange(10**6):06d}", b64(os.urandom(8))
            return (await hub.get(f"/v1/issuers/{iss}/keys/{kid}")).status
        if kind == 8:  # an unknown token
            return (await verify(hub, random_code(), token=b64(os.urandom(24)))).status
        iss = f"{rng.randrange(10**6):06d}"  # a management call for any issuer
        return (await hub.get(f"/v1/issuers/{iss}/status/mark")).status

    statuses: list[int] = []
    for start in range(0, 10_000, 200):
        statuses += await asyncio.gather(*(one(i) for i in range(start, start + 200)))
    assert len(statuses) == 10_000 and {200, 401, 404} <= set(statuses)

    after = await scrape(hub)
    routes = {r.resource.canonical for r in hub.app.router.routes() if r.resource} | {"unmatched"}
    allowed = {
        "iss": {GD, BJ, HB, "unknown"},
        "outcome": {*OUTCOMES, "hit", "miss"},
        "route": routes,
        "error": set(ERRORS),
        "client": {"terminal", "mirror", "noscope", "slow"},
        "layer": set(LAYERS),
        "reason": {*REJECTIONS, *CLIENT_REJECTIONS},
        "state": set(KEY_STATES),
        "op": set(REDIS_OPS),
        "method": {"GET", "POST"},
        "code": {"200", "201", "401", "404"},  # the key.add before, and the answers
        "pid": {str(os.getpid())},
        **{k: {v} for k, v in zip(("version", "revision", "python_version"), build(), strict=True)},
    }
    for name, labels in after:
        for label, v in labels:
            if label != "le":  # bucket bounds: fixed by the catalogue
                assert v in allowed[label], (name, label, v)
    new = {s for s in after if s not in before}  # bound on first use: routes and clients
    bound_on_use = ("hcgw_request_duration", "hcgw_requests", "hcgw_errors", "hcgw_client_")
    assert all(name.startswith(bound_on_use) for name, _ in new)
    assert len(after) < 2 * len(before)  # bounded: nothing grew with the traffic
    assert not (sent - {GD, BJ, HB}) & {v for _, labels in after for _, v in labels}


def _with_kid(w: World, iss: str, signer: PrivateKey, kid: bytes) -> bytes:
    return envelope(Domain.CODE, signer, pack(claims(iss)), kid=kid)


def test_observing_many_values_at_once_equals_observing_them_one_by_one() -> None:
    values = [0.0, 0.4, 0.5, 0.7, 1.0, 3.0, 59.9, 60.0, 61.0, 10**6]
    a = Histogram("a", "a", buckets=(0.5, 1.0, 60.0), registry=CollectorRegistry())
    b = Histogram("b", "b", buckets=(0.5, 1.0, 60.0), registry=CollectorRegistry())
    for x in values:
        a.observe(x)
    observe_many(b, values)
    observe_many(b, [])
    samples = [
        [
            (s.name[1:], s.labels, s.value)
            for s in next(iter(h.collect())).samples
            if "created" not in s.name
        ]
        for h in (a, b)
    ]
    assert samples[0] == samples[1]
