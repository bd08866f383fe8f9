"""Connections at a real ``hcgw serve`` (issue 10): the open-file limit is raised at start,
sockets that send nothing or send their head too slowly are closed, a flood of them cannot shut
a well-behaved client out, and SIGTERM lets a request whose body is still arriving finish.
Floods are a few hundred sockets on 127.0.0.1, each test bounded to seconds."""

from __future__ import annotations

import contextlib
import os
import resource
import select
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest

from factory import VERIFY_TOKEN, World
from gateways import GatewayProcess
from rawhttp import batch_head, exchange, parse, read_answer, request

pytestmark = pytest.mark.slow

AUTH = f"Authorization: Bearer {VERIFY_TOKEN}"
HEADER_TIMEOUT = 1.5


def open_files(soft: int, hard: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return limit


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def healthz(port: int) -> int:
    return parse(exchange(port, request("GET", "/healthz", "Connection: close"), 3)).status


def wait_closed(socks: list[socket.socket], seconds: float) -> list[socket.socket]:
    """The sockets the hub has not closed (or answered) after ``seconds``, or as soon as none."""
    poller = select.poll()
    by_fd = {sock.fileno(): sock for sock in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + seconds
    while by_fd and time.monotonic() < deadline:
        for fd, _ in poller.poll(50):
            poller.unregister(fd)
            by_fd.pop(fd)
    return list(by_fd.values())


def wait_for_log(gw: GatewayProcess, text: str, times: int, seconds: float) -> bool:
    """Whether ``text`` appears ``times`` times in the gateway's log within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gw.log.read_text().count(text) >= times:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


def test_a_low_soft_open_file_limit_is_raised_to_the_hard_one_at_start(
    tmp_path: Path, redis_url: str
) -> None:
    gw = GatewayProcess(World.make(), tmp_path, redis_url, "nofile")
    gw.start(preexec_fn=open_files(256, 4096))
    try:
        assert gw.process is not None
        assert resource.prlimit(gw.process.pid, resource.RLIMIT_NOFILE) == (4096, 4096)
        assert "open-file limit 4096 (hard 4096, raised from 256)" in gw.log.read_text()
        assert healthz(gw.port) == 200
    finally:
        assert gw.stop() == 0


def test_a_flood_of_silent_and_slow_sockets_neither_shuts_out_a_client_nor_stays_open(
    tmp_path: Path, redis_url: str, sockets: list[socket.socket]
) -> None:
    gw = GatewayProcess(
        World.make(), tmp_path, redis_url, "flood", header_timeout=str(HEADER_TIMEOUT)
    )
    gw.start(preexec_fn=open_files(256, 256))  # a hard limit as low: nothing to raise it to
    assert gw.process is not None
    try:
        started = time.monotonic()
        silent = [connect(gw.port) for _ in range(300)]  # more than the 256 descriptors
        slow = [connect(gw.port) for _ in range(10)]
        sockets += silent + slow
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for _ in range(10):  # a well-behaved client, a new connection each time, is served
            assert healthz(gw.port) == 200
        for i in range(3):  # the slowloris keeps sending, a header line at a time
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(f"X-Slow-{i}: 1\r\n".encode())
            time.sleep(0.2)
        assert len(os.listdir(f"/proc/{gw.process.pid}/fd")) < 256
        still_open = wait_closed(silent + slow, HEADER_TIMEOUT + 3 - (time.monotonic() - started))
        assert still_open == []
        assert healthz(gw.port) == 200
        assert "at most 128 connections" in gw.log.read_text()
    finally:
        assert gw.stop() == 0


@pytest.fixture
def capped(tmp_path: Path, redis_url: str) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(World.make(), tmp_path, redis_url, "capped", max_connections="4")
    gw.start()
    try:
        yield gw
    finally:
        assert gw.stop() == 0


def test_past_the_cap_a_new_connection_takes_the_place_of_the_oldest_idle_one(
    capped: GatewayProcess, sockets: list[socket.socket]
) -> None:
    idle = [connect(capped.port) for _ in range(4)]
    sockets += idle
    time.sleep(0.2)
    assert healthz(capped.port) == 200
    assert wait_closed(idle[:1], 2) == []  # the oldest made room
    assert wait_closed(idle[1:], 0.2) == idle[1:]  # the others were not needed


def test_past_the_cap_with_every_connection_in_a_request_a_new_one_is_503_overloaded(
    capped: GatewayProcess, sockets: list[socket.socket]
) -> None:
    code = b"HCM1:not-a-code"
    head = request(
        "POST", "/v1/verify", AUTH, "Content-Type: text/plain", f"Content-Length: {len(code)}"
    )
    busy = [connect(capped.port) for _ in range(4)]
    sockets += busy
    for sock in busy:
        sock.sendall(head + code[:4])  # in a request, its body still arriving
    time.sleep(0.3)
    answer = parse(exchange(capped.port, request("GET", "/healthz"), 3))
    assert answer.status == 503
    assert answer.json()["error"] == "overloaded"
    assert answer.headers["retry-after"] == "1"
    for sock in busy:  # and the requests in progress are answered as usual
        sock.sendall(code[4:])
        assert read_answer(sock, 5).status == 200


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_lets_a_request_whose_body_is_still_arriving_finish(
    tmp_path: Path, redis_url: str, workers: str
) -> None:
    gw = GatewayProcess(
        World.make(), tmp_path, redis_url, "term", workers=workers, data_dir=str(tmp_path)
    )
    gw.start()
    assert gw.process is not None
    body = msgpack.packb([b"\x00" * 100] * 50, use_bin_type=True)
    head = batch_head(AUTH, body)
    try:
        with connect(gw.port) as sock:
            sock.sendall(head + body[: len(body) // 2])
            time.sleep(0.3)
            gw.process.send_signal(signal.SIGTERM)
            stopping = "stopping, finishing requests in flight"
            assert wait_for_log(gw, stopping, int(workers), 10)  # every worker has begun
            sock.sendall(body[len(body) // 2 :])
            answer = read_answer(sock, 5)
            assert gw.process.wait(5) == 0  # the kept-alive connection does not hold it up
        assert answer.status == 200
        assert [v["reason"] for v in answer.json()] == ["MALFORMED"] * 50
    finally:
        gw.stop()
