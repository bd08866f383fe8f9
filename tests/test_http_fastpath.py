"""``POST /v1/verify`` by the fast path (``gateway.web.fastpath``): the same answers as
aiohttp's way, in request order on a connection, and the same keep-alive deadline."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack
import pytest

from factory import BJ, GD, NOSCOPE_TOKEN, VERIFY_TOKEN, World
from gateway.core.wire import encode_text
from hubtest import HubClient, MakeHub
from rawhttp import Answer, parse


def request(
    body: bytes,
    *,
    ctype: str = "application/msgpack",
    token: str | None = VERIFY_TOKEN,
    path: str = "/v1/verify",
    extra: str = "",
) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: hub\r\nContent-Type: {ctype}\r\n{auth}{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


GET_HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n"


async def exchange(hub: HubClient, data: bytes, answers: int) -> list[Answer]:
    """Send ``data`` on one new connection; the first ``answers`` answers, in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.server.port)
    try:
        writer.write(data)
        out: list[Answer] = []
        buffered = b""
        while len(out) < answers:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            assert chunk, f"closed after {len(out)} answers"
            buffered += chunk
            while len(out) < answers and b"\r\n\r\n" in buffered:
                rest = buffered.partition(b"\r\n\r\n")[2]
                answer = parse(buffered)
                length = int(answer.headers.get("content-length", 0))
                if len(rest) < length:
                    break
                out.append(answer)
                buffered = rest[length:]
        return out
    finally:
        writer.close()


async def registered(make_hub: MakeHub, world: World, **options: Any) -> HubClient:
    hub = await make_hub(world, **options)
    for iss in (GD, BJ):
        r = await hub.post(
            f"/v1/issuers/{iss}/keys",
            data=world.key_add(iss),
            headers={"Content-Type": "application/msgpack"},
        )
        assert r.status == 201, await r.text()
    return hub


def variety(world: World) -> list[bytes]:
    """Requests the fast path takes, each answered differently."""
    code = world.code(GD, col=1, nm="张*")
    text = encode_text(code).encode()
    return [
        request(code),
        request(code, extra="Accept: application/msgpack\r\n"),
        request(world.code(BJ, col=2), extra="Accept: text/html, application/json\r\n"),
        request(text, ctype="text/plain"),
        request(json.dumps({"code": text.decode()}).encode(), ctype="application/json"),
        request(b'{"code": 1}', ctype="application/json"),  # 400
        request(b"\x93\xc4\x01x\xc4\x00\xc4\x00"),  # not a code: a MALFORMED verdict
        request(code, ctype="application/xml"),  # 415
        request(code, extra="Content-Encoding: gzip\r\n"),  # 415
        request(code, token=None),  # 401
        request(code, token=NOSCOPE_TOKEN),  # 403
        request(b"\x00" * 5000),  # 413
    ]


def comparable(answer: Answer) -> tuple[bytes, dict[str, str], Any]:
    headers = {k: v for k, v in answer.headers.items() if k != "date"}
    if answer.headers.get("content-type", "").startswith("application/msgpack"):
        return answer.status_line, headers, msgpack.unpackb(answer.body)
    return answer.status_line, headers, answer.body


async def test_the_fast_path_answers_every_kind_of_request_as_aiohttp_does(
    make_hub: MakeHub,
) -> None:
    world = World.make()
    fast = await registered(make_hub, world, fast_path=True)
    plain = await make_hub(world, fast_path=False)  # the same Redis, so the same keys
    for raw in variety(world):
        (by_fast,) = await exchange(fast, raw, 1)
        (by_aiohttp,) = await exchange(plain, raw, 1)
        assert comparable(by_fast) == comparable(by_aiohttp), raw[:60]
        assert "date" in by_fast.headers and "server" in by_fast.headers
    assert fast.fast_answered == len(variety(world)) and plain.fast_answered == 0
    statuses = [(await exchange(fast, raw, 1))[0].status for raw in variety(world)]
    assert statuses == [200, 200, 200, 200, 200, 400, 200, 415, 415, 401, 403, 413]


async def pipelined(hub: HubClient, world: World, ways: str) -> int:
    """Send one request per letter of ``ways`` in one write (``f``: a code the fast path takes,
    ``c``: a code in a chunked body, ``h``: GET /healthz; both aiohttp's); check that they are
    answered in order. How many the fast path answered."""
    chunked = (
        b"POST /v1/verify HTTP/1.1\r\nHost: hub\r\nContent-Type: application/msgpack\r\n"
        + f"Authorization: Bearer {VERIFY_TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    names: list[str | None] = []
    data = b""
    for i, way in enumerate(ways):
        name = f"{chr(0x4E00 + i)}*"
        code = world.code(GD, nm=name)
        if way == "h":
            data += GET_HEALTHZ
            names.append(None)
        elif way == "c":
            data += chunked + f"{len(code):x}\r\n".encode() + code + b"\r\n0\r\n\r\n"
            names.append(name)
        else:
            data += request(code)
            names.append(name)
    before = hub.fast_answered
    answers = await exchange(hub, data, len(ways))
    assert [a.status for a in answers] == [200] * len(ways)
    assert [a.json().get("nm") for a in answers] == names
    return hub.fast_answered - before


async def test_pipelined_requests_are_answered_in_order_whichever_way_each_takes(
    make_hub: MakeHub,
) -> None:
    world = World.make()
    hub = await registered(make_hub, world)
    ways = "fffhffcfffhfcf"
    assert 3 <= await pipelined(hub, world, ways) <= ways.count("f")
    # More requests in one write than aiohttp queues (32): reading pauses, and aiohttp's way
    # answers what the fast path has not taken, still in order.
    await pipelined(hub, world, "f" * 80)


async def test_requests_after_one_aiohttp_answered_take_the_fast_path_again(
    make_hub: MakeHub,
) -> None:
    world = World.make()
    hub = await registered(make_hub, world, fast_path=True)
    code = world.code(GD)
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.server.port)
    try:
        before = hub.fast_answered
        for raw in [GET_HEALTHZ, *[request(code)] * 20, GET_HEALTHZ, *[request(code)] * 20]:
            writer.write(raw)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            answer = parse(head)
            await reader.readexactly(int(answer.headers["content-length"]))
            assert answer.status == 200
        assert hub.fast_answered - before == 40
    finally:
        writer.close()


@pytest.mark.parametrize("first", ["fast", "aiohttp"])
async def test_a_connection_is_kept_while_it_sends_and_closed_once_idle_past_the_deadline(
    make_hub: MakeHub, first: str
) -> None:
    world = World.make()
    deadline = 0.3
    hub = await registered(make_hub, world, header_timeout=deadline)
    code = world.code(GD)
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.server.port)

    async def answered(raw: bytes) -> int:
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        answer = parse(head)
        await reader.readexactly(int(answer.headers["content-length"]))
        return answer.status

    try:
        if first == "aiohttp":
            assert await answered(GET_HEALTHZ) == 200
        # Requests a third of the deadline apart for three deadlines: each one moves it on.
        for _ in range(9):
            assert await answered(request(code)) == 200
            await asyncio.sleep(deadline / 3)
        assert hub.fast_answered == 9
        # Then nothing more is sent: the hub closes the connection at its deadline.
        assert await asyncio.wait_for(reader.read(1), 10) == b""
    finally:
        writer.close()
