"""A lean HTTP/1.1 keep-alive client connection: pre-built request bytes in, (status, body) out.

Why not ``aiohttp.ClientSession``: in a Python load generator the client's own cost per
request sets the ceiling (research/loadtest.md §3.4: one aiohttp client process reached about
half of what wrk drove through the same server). This protocol writes bytes that were built
before the run and parses only the status line, ``Content-Length`` and the body: a few
microseconds per request. One request in flight per connection, no pipelining; answers must
carry ``Content-Length`` (the gateway's and aiohttp's always do). Anything else is counted as
a protocol error and the connection is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"


class Connection(asyncio.Protocol):
    """Calls ``on_response(conn, status, body, done_ns)`` or ``on_lost(conn, kind)``."""

    def __init__(
        self,
        on_response: Callable[[Connection, int, bytes, int], None],
        on_lost: Callable[[Connection, str], None],
    ) -> None:
        self._on_response = on_response
        self._on_lost = on_lost
        self.transport: Any = None  # asyncio's or uvloop's transport (not a subclass)
        self._buf = b""
        self._need = -1  # total bytes of the answer once its header is read
        self._body_at = 0
        self._status = 0
        # The request in flight (set by the engine): slot, intended and sent times.
        self.busy = False
        self.slot = -1
        self.intended_ns = 0
        self.sent_ns = 0
        self.timed_out = False
        self.answer_bytes = 0  # of the last answer, head and body

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self, request: bytes, slot: int, intended_ns: int) -> int:
        """Write one request; return its send time (ns, CLOCK_MONOTONIC)."""
        assert self.transport is not None
        assert not self.busy
        self.busy, self.slot, self.intended_ns = True, slot, intended_ns
        self.sent_ns = time.monotonic_ns()
        self.transport.write(request)
        return self.sent_ns

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        if self._need < 0:
            end = buf.find(_HEADER_END)
            if end < 0:
                self._buf = buf
                return
            head = buf[:end].lower()
            at = head.find(_CONTENT_LENGTH)
            if not buf.startswith(b"HTTP/1.") or at < 0:
                self._fail("protocol_error")
                return
            stop = head.find(b"\r\n", at + 2)
            try:
                self._status = int(buf[9:12])
                length = int(head[at + len(_CONTENT_LENGTH) : stop if stop > 0 else None])
            except ValueError:
                self._fail("protocol_error")
                return
            self._body_at = end + 4
            self._need = self._body_at + length
        if len(buf) < self._need:
            self._buf = buf
            return
        if len(buf) > self._need or not self.busy:
            self._fail("protocol_error")  # bytes nobody asked for
            return
        done_ns = time.monotonic_ns()
        body = buf[self._body_at : self._need]
        self.answer_bytes = self._need
        self._buf, self._need = b"", -1
        self.busy = False
        self._on_response(self, self._status, body, done_ns)

    def _fail(self, kind: str) -> None:
        self._buf, self._need = b"", -1
        if self.transport is not None:
            self.transport.abort()
        self._report_lost(kind)

    def connection_lost(self, exc: Exception | None) -> None:
        self._report_lost("timeout" if self.timed_out else "connection_lost")

    def _report_lost(self, kind: str) -> None:
        if self.transport is None:
            return  # reported once
        self.transport = None
        self._on_lost(self, kind)


async def open_connection(
    host: str,
    port: int,
    on_response: Callable[[Connection, int, bytes, int], None],
    on_lost: Callable[[Connection, str], None],
) -> Connection:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: Connection(on_response, on_lost), host, port)
    return proto


def describe(exc: BaseException) -> str:
    """A short, fixed label for a connect error (never a message with addresses in it)."""
    name: Any = type(exc).__name__
    return f"connect_{name}"
