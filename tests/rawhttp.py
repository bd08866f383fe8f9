"""HTTP/1.1 over a plain socket, for the requests no client library would send (issue 10)."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status_line: bytes
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw: bytes  # everything the hub sent, interim answers included

    def json(self) -> Any:
        return json.loads(self.body)


def parse(raw: bytes) -> Answer:
    """The final answer in ``raw`` (after any 1xx)."""
    rest = raw
    while True:
        head, sep, rest = rest.partition(b"\r\n\r\n")
        assert sep, f"no complete answer in {raw[:300]!r}"
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        if status >= 200:
            break
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return Answer(lines[0], status, headers, rest[:length], raw)


def read_all(sock: socket.socket, timeout: float) -> bytes:
    """What the peer sends until it closes, resets, or ``timeout`` passes in silence."""
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return out
        if not chunk:
            return out
        out += chunk


def read_answer(sock: socket.socket, timeout: float) -> Answer:
    """One complete final answer (by Content-Length), without waiting for the peer to close."""
    deadline = time.monotonic() + timeout
    out = b""
    while True:
        try:
            answer = parse(out)
            if len(answer.body) >= int(answer.headers.get("content-length", 0)):
                return answer
        except (AssertionError, ValueError, IndexError):
            pass
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return parse(out)
        out += chunk


def exchange(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send ``request`` on a new connection; everything answered until the hub closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The hub may answer before the end and close; its answer can still be read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        return read_all(sock, timeout)


def request(
    method: str, target: str, *headers: str, body: bytes = b"", version: str = "HTTP/1.1"
) -> bytes:
    lines = [f"{method} {target} {version}".rstrip(), "Host: 127.0.0.1", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def batch_head(authorization: str, body: bytes, *headers: str) -> bytes:
    """The head of a msgpack batch to /v1/verify/batch, for a body sent separately."""
    return request(
        "POST",
        "/v1/verify/batch",
        authorization,
        "Content-Type: application/msgpack",
        f"Content-Length: {len(body)}",
        *headers,
    )
