"""Structured logs: every line a JSON object with an RFC 3339 UTC time (or text, on request),
the start-up line with the hub's URLs and a last line at shutdown, one audit line per management
write, one line per error answer, and nothing personal in any line: no token, pseudonym, key,
masked name or ID number, whatever the clients send, in a real ``hcgw serve`` run's log and in a
500's."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from factory import BJ, GD, MSGPACK, VERIFY_TOKEN, World, b64, bearer, claims, envelope, pack
from gateway.core.crypto import spki_of
from gateway.core.model import Domain
from gateway.launch import free_port
from gateway.metrics import Metrics
from gateway.metrics.logs import JsonLines
from gateway.web.middleware import Gate
from gateways import GatewayProcess

ID_NUMBER = "11010119900307777X"  # the shape of a resident ID number (GB 11643)
WRONG_TOKEN = "t-stolen-" + "z" * 32


def forms(raw: bytes) -> set[str]:
    """Every way a log line could spell these bytes."""
    return {
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode(),
        b64(raw),
        repr(raw)[2:-1],
    }


RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def log_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a ``log_format = "json"`` log, which must all be JSON objects."""
    lines = [json.loads(line) for line in text.splitlines()]
    for line in lines:
        assert RFC3339_UTC.fullmatch(line["ts"]), line
        assert line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), line
        assert isinstance(line["logger"], str) and ("msg" in line or "event" in line), line
    return lines


def json_lines(text: str, logger: str) -> list[dict[str, Any]]:
    return [line for line in log_lines(text) if line["logger"] == logger]


@pytest.mark.slow
async def test_a_runs_log_holds_audit_and_error_lines_and_nothing_personal(
    tmp_path: Path, redis_url: str
) -> None:
    world = World.make()
    gw = GatewayProcess(world, tmp_path, redis_url, "logs")
    gw.start()
    now = int(time.time())
    subs = [hashlib.sha256(f"resident {i}".encode()).digest()[:16] for i in range(3)]
    try:
        async with aiohttp.ClientSession() as s:

            async def post(path: str, body: bytes, **headers: str) -> int:
                async with s.post(gw.url + path, data=body, headers={**MSGPACK, **headers}) as r:
                    await r.read()
                    return r.status

            add = world.key_add(GD, now=now, nbf=now - 60, naf=now + 3600)
            assert await post(f"/v1/issuers/{GD}/keys", add) == 201
            assert await post(f"/v1/issuers/{GD}/keys", add) == 409  # replay
            again = world.key_add(GD, now=now, nbf=now - 60, naf=now + 3600)
            assert await post(f"/v1/issuers/{GD}/keys", again) == 409  # kid collision
            junk_spki = b"\x30" + os.urandom(40)
            bad = world.message(
                BJ, "key.add", now=now, alg="Ed25519", spki=junk_spki, nbf=now, naf=now + 60
            )
            assert await post(f"/v1/issuers/{BJ}/keys", bad) == 422
            empty = world.key_add(BJ, now=now, nbf=now, naf=now)
            assert await post(f"/v1/issuers/{BJ}/keys", empty) == 400
            events = [[sub, 2, 3, now - 5] for sub in subs]
            assert await post(f"/v1/issuers/{GD}/status", world.status(GD, events, now=now)) == 200
            signer = world.issuers[GD].code_key
            for sub in subs:
                payload = claims(GD, iat=now, sub=sub, nm="张*", k11=ID_NUMBER)
                code = envelope(Domain.CODE, signer, pack(payload))
                assert await post("/v1/verify", code, **bearer()) == 200
                assert await post("/v1/verify", code, **bearer(WRONG_TOKEN)) == 401
                assert await post("/v1/verify", code + b"x" * 5000, **bearer()) == 413
            async with s.get(f"{gw.url}/v1/{ID_NUMBER}/{VERIFY_TOKEN}", headers=bearer()) as r:
                assert r.status == 404
            async with s.post(f"{gw.url}/v1/verify", data=b"{}", headers=bearer()) as r:
                assert r.status == 415
    finally:
        assert gw.stop() == 0
    log = gw.log.read_text(encoding="utf-8")

    lines = log_lines(log)
    (start,) = [line for line in lines if line.get("event") == "start"]
    assert (start["api"], start["dashboard"]) == (gw.url, gw.url + "/dashboard")
    assert (start["issuers"], start["clients"], start["workers"]) == (3, 4, 1)
    assert f"API {gw.url}," in start["msg"] and "3 issuers, 4 clients" in start["msg"]
    assert (lines[-1]["event"], lines[-1]["exit"], lines[-1]["msg"]) == (
        "stop",
        0,
        "hub stopped (exit 0)",
    )
    audit = json_lines(log, "hcgw.audit")
    assert [(a["action"], a["outcome"]) for a in audit] == [
        ("key.add", "ok"),
        ("key.add", "replay"),
        ("key.add", "kid_collision"),
        ("key.add", "invalid_key"),
        ("key.add", "bad_request"),
        ("status", "ok"),
    ]
    kid = b64(world.issuers[GD].code_key.public.kid)
    for a in audit:
        assert a["event"] == "management" and len(a["request_sha256"]) == 64
        assert a["iss"] in (GD, BJ)
    assert [a.get("kid") for a in audit[:3]] == [kid, kid, kid]
    assert audit[5]["events"] == 3 and audit[5]["applied"] == 3
    errors = json_lines(log, "hcgw.errors")
    seen = {(e["status"], e["error"], e["route"]) for e in errors}
    assert {
        (401, "unauthenticated", "/v1/verify"),
        (413, "body_too_large", "/v1/verify"),
        (404, "not_found", "unmatched"),
        (415, "unsupported_media_type", "/v1/verify"),
        (409, "kid_collision", "/v1/issuers/{iss}/keys"),
    } <= seen
    assert sum(1 + e.get("repeats", 0) for e in errors if e["error"] == "unauthenticated") <= 3

    secrets = {VERIFY_TOKEN, WRONG_TOKEN, ID_NUMBER, "张*", "\\u5f20*", *forms(junk_spki)}
    for sub in subs:
        secrets |= forms(sub)
    for issuer in world.issuers.values():
        for key in (issuer.code_key, issuer.upload):
            secrets |= forms(spki_of(key))
    leaked = {s for s in secrets if s in log}
    assert not leaked, leaked


async def test_a_500_logs_where_it_happened_but_not_what_the_exception_said(
    aiohttp_client: AiohttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError(f"lookup failed for {ID_NUMBER} with {VERIFY_TOKEN}")

    app = web.Application(middlewares=[Gate(Metrics([GD]), 10).middleware])
    app.router.add_get("/broken", broken)
    client = await aiohttp_client(app)
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        assert (await client.get("/broken")).status == 500
    lines = [r.getMessage() for r in caplog.records if r.name == "hcgw.errors"]
    assert len(lines) == 1  # the same error within a second is counted, not repeated
    record = json.loads(lines[0])
    assert record["status"] == 500 and record["exception"] == "RuntimeError"
    assert record["route"] == "/broken" and any("in broken" in w for w in record["where"])
    everything = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert ID_NUMBER not in everything and VERIFY_TOKEN not in everything


@pytest.mark.slow
def test_a_hub_with_two_workers_says_where_it_is_once_and_in_text_if_asked(
    tmp_path: Path, redis_url: str
) -> None:
    admin = f"127.0.0.1:{free_port()}"
    gw = GatewayProcess(
        World.make(), tmp_path, redis_url, "text", workers="2", admin_listen=admin,
        log_format="text", data_dir=str(tmp_path),
    )  # fmt: skip
    gw.start()
    assert gw.stop() == 0
    lines = gw.log.read_text(encoding="utf-8").splitlines()
    shape = re.compile(r"(\S+) (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+) (.+)")
    for line in lines:
        match = shape.fullmatch(line)
        assert match and RFC3339_UTC.fullmatch(match[1]), line
    ready = [line for line in lines if " hcgw hub ready: " in line]
    assert len(ready) == 1, lines  # the supervisor's, not one per worker
    assert ready[0].endswith(
        f"hub ready: API {gw.url}, admin http://{admin}, dashboard http://{admin}/dashboard; "
        "3 issuers, 4 clients, 2 workers"
    )
    assert lines[-1].endswith(" INFO hcgw hub stopped (exit 0)")


def test_json_lines_keep_their_own_keys_and_put_a_traceback_in_one_field() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    log = logging.getLogger("hcgw.test.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning(json.dumps({"event": "x", "ts": "forged", "level": "forged", "n": 1}))
        log.warning("plain %s", "text", extra={"fields": {"event": "y", "logger": "forged"}})
        try:
            raise KeyError("k")
        except KeyError:
            log.exception("it failed")
        log.warning('{"not": json}')
    finally:
        log.removeHandler(handler)
    first, second, third, fourth = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "x" and first["n"] == 1 and "msg" not in first
    assert first["level"] == "WARNING" and RFC3339_UTC.fullmatch(first["ts"])
    assert second == {**second, "msg": "plain text", "event": "y", "logger": "hcgw.test.json"}
    assert third["level"] == "ERROR" and third["exc"].startswith("Traceback")
    assert third["exc"].endswith("KeyError: 'k'") and third["msg"] == "it failed"
    assert fourth["msg"] == '{"not": json}'
