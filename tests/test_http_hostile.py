"""Requests no client library would send, at a real ``hcgw serve`` over raw sockets (issue 10):
each is answered in SPEC §7's JSON, nothing it sent comes back in the answer, and no logger
(aiohttp's, asyncio's, redis-py's or the hub's) writes its token or its path."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from factory import VERIFY_TOKEN, World
from gateway.store.embedded import EmbeddedRedis
from gateways import GatewayProcess
from rawhttp import batch_head, exchange, parse, read_answer, request

pytestmark = pytest.mark.slow

SECRET = "s3cret-d1e5a9b0c7"  # stands for whatever a client sent that must not come back
AUTH = f"Authorization: Bearer {VERIFY_TOKEN}"
CODE = b"HCM1:not-a-code"


@pytest.fixture(scope="module")
def gateway(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(World.make(), tmp_path_factory.mktemp("hostile"), redis_server.url, "gw")
    gw.start()
    try:
        yield gw
    finally:
        assert gw.stop() == 0


def refused(port: int, raw: bytes) -> tuple[int, dict[str, Any], bytes]:
    answer = parse(exchange(port, raw))
    assert answer.headers["content-type"].startswith("application/json"), answer.raw[:300]
    doc = answer.json()
    assert set(doc) == {"error", "detail"} and isinstance(doc["detail"], str), doc
    return answer.status, doc, answer.raw


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip", "deflate, br"])
def test_a_body_with_a_content_encoding_is_415_whatever_the_encoding(
    gateway: GatewayProcess, encoding: str
) -> None:
    raw = request(
        "POST",
        "/v1/verify",
        AUTH,
        "Content-Type: text/plain",
        f"Content-Encoding: {encoding}",
        "Connection: close",
        body=CODE,
    )
    status, doc, _ = refused(gateway.port, raw)
    assert (status, doc["error"]) == (415, "unsupported_media_type")


HOSTILE = {
    "a 100 KB URL": (request("GET", f"/v1/{SECRET}" + "a" * 100_000), 400, "bad_request"),
    "a 64 KiB header": (
        request("GET", "/healthz", f"X-Note: {SECRET}" + "b" * 65_536),
        400,
        "bad_request",
    ),
    "5,000 headers": (
        request("GET", "/healthz", *(f"X-H{i}: {SECRET}" for i in range(5000))),
        400,
        "bad_request",
    ),
    "an unknown method": (request("BREW", f"/{SECRET}"), 405, "method_not_allowed"),
    "a lower-case method": (request("get", f"/healthz?{SECRET}"), 405, "method_not_allowed"),
    "a space before a header's colon": (
        request("POST", "/v1/verify", f"Authorization : Bearer {VERIFY_TOKEN}", body=CODE),
        400,
        "bad_request",
    ),
    "a control character in the path": (
        request("GET", f"/v1/\x01{SECRET}"),
        400,
        "bad_request",
    ),
    "a broken chunk size": (
        request(
            "POST", "/v1/verify", AUTH, "Content-Type: text/plain", "Transfer-Encoding: chunked"
        )
        + f"zz{SECRET}\r\nabc\r\n0\r\n\r\n".encode(),
        400,
        "bad_request",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_what_the_http_parser_refuses_is_a_json_error_that_quotes_none_of_it(
    gateway: GatewayProcess, case: str
) -> None:
    raw, status, error = HOSTILE[case]
    got, doc, answer = refused(gateway.port, raw)
    assert (got, doc["error"]) == (status, error)
    assert SECRET.encode() not in answer
    assert VERIFY_TOKEN.encode() not in answer
    if status == 405:
        assert b"\r\nAllow: GET, HEAD, POST\r\n" in answer


def test_expect_100_continue_over_the_limit_is_413_at_once_without_a_100(
    gateway: GatewayProcess,
) -> None:
    raw = request(
        "POST",
        "/v1/verify/batch",
        AUTH,
        "Content-Type: application/msgpack",
        "Content-Length: 100000000",
        "Expect: 100-continue",
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(raw)
        answer = read_answer(sock, 5)
    assert answer.raw.startswith(b"HTTP/1.1 413 ")
    assert answer.json()["error"] == "body_too_large"


def test_expect_100_continue_within_the_limit_gets_the_100_then_the_answer(
    gateway: GatewayProcess,
) -> None:
    body = msgpack.packb([b"\x00" * 10], use_bin_type=True)
    head = batch_head(AUTH, body, "Expect: 100-continue")
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = read_answer(sock, 5)
    assert answer.status == 200
    assert answer.json()[0]["reason"] == "MALFORMED"


def test_an_expectation_the_hub_does_not_know_is_ignored_not_a_text_417(
    gateway: GatewayProcess,
) -> None:
    raw = request("GET", "/healthz", f"Expect: {SECRET}", "Connection: close")
    answer = parse(exchange(gateway.port, raw))
    assert answer.status == 200
    assert SECRET.encode() not in answer.raw


def test_a_request_line_without_an_http_version_is_refused_not_served_as_http_0_9(
    gateway: GatewayProcess,
) -> None:
    raw = exchange(gateway.port, b"GET /healthz\r\n\r\n")
    assert b'"status": "ok"' not in raw
    if raw:  # answered (rather than closed): a 400 in JSON
        answer = parse(raw)
        assert answer.status == 400
        assert answer.json()["error"] == "bad_request"


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer  {VERIFY_TOKEN}",  # two spaces
        f"Bearer\t{VERIFY_TOKEN}",  # a tab
        f"Bearer {VERIFY_TOKEN} x",  # a second word
        f"Bearer {VERIFY_TOKEN},",  # not a b64token
        "Bearer ",  # a scheme and no token
    ],
)
def test_bearer_credentials_other_than_one_space_and_a_b64token_are_unauthenticated(
    gateway: GatewayProcess, authorization: str
) -> None:
    raw = request(
        "POST",
        "/v1/verify",
        f"Authorization: {authorization}",
        "Content-Type: text/plain",
        "Connection: close",
        body=CODE,
    )
    status, doc, _ = refused(gateway.port, raw)
    assert (status, doc["error"]) == (401, "unauthenticated")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(gateway: GatewayProcess, scheme: str) -> None:
    raw = request(
        "POST",
        "/v1/verify",
        f"Authorization: {scheme} {VERIFY_TOKEN}",
        "Content-Type: text/plain",
        "Connection: close",
        body=CODE,
    )
    assert parse(exchange(gateway.port, raw)).status == 200


def test_no_logger_writes_a_token_or_a_path_a_hostile_client_sent(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    gw = GatewayProcess(World.make(), tmp_path, redis_server.url, "logs")
    gw.start()
    try:
        for raw, _, _ in HOSTILE.values():
            exchange(gw.port, raw)
        for raw in (
            request("POST", "/v1/verify", f"Authorization:: Bearer {VERIFY_TOKEN}", body=CODE),
            request("POST", "/v1/verify", f"Authorization: Bearer {VERIFY_TOKEN}\x7f", body=CODE),
            request("GET", f"/{SECRET}", f"X-Token: {VERIFY_TOKEN}", version="HTTP/1.9"),
            request("GET", f"/{SECRET}\x00", AUTH),
            request("GET", f"/{SECRET}", AUTH, f"Expect: {SECRET}"),
            b"GET /" + SECRET.encode() + b" HTTP/1.1\r\n" + AUTH.encode() + b"\n\n",
            b"\x16\x03\x01" + SECRET.encode() + VERIFY_TOKEN.encode(),  # TLS at a plain port
        ):
            exchange(gw.port, raw, timeout=2)
    finally:
        assert gw.stop() == 0
    text = gw.log.read_text(errors="replace")
    for secret in (VERIFY_TOKEN, SECRET, VERIFY_TOKEN[-16:], SECRET[-8:]):
        assert secret not in text, [line for line in text.splitlines() if secret in line][:3]
    assert '"route": "(unparsed)"' in text  # the refusals were logged, in the hub's words
