"""The connections of one listener of the hub: the open-file limit, a cap below it, shutdown.

aiohttp's documented knobs carry part of it (``HubRunner`` passes them): the parser's line and
header limits, ``keepalive_timeout`` as the idle deadline between requests, and
``auto_decompress=False`` so that any ``Content-Encoding`` reaches the hub's own 415
(``bodies``) rather than aiohttp's 400 for the encodings it cannot decode. Two things have no
knob, so ``HubServer`` adds them:

- **A connection cap**: past ``max_connections`` a new connection takes the place of the oldest
  one that is waiting for a request (an idle or silent socket, or one still sending its head);
  when every connection is in a request, it is answered 503 ``overloaded`` and closed. The cap
  sits below the open-file limit, which a worker raises to its hard limit at start, so
  ``accept`` never meets EMFILE and a flood of idle sockets cannot shut clients out.
- **Graceful shutdown of a request whose body is still arriving**: aiohttp's ``pre_shutdown``
  marks every connection closing, and a closing connection drops what it receives, so such a
  request waited out the grace and failed. Here only the connections waiting for a request are
  closed; the others read on until they have answered.

Each connection is a ``gateway.web.protocol.HubRequestHandler``. Besides the documented API this
overrides ``AppRunner._make_server`` (the same in aiohttp 3.13.3 and 3.14.5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader

from gateway.errors import HcgwError, Overloaded
from gateway.metrics.logs import ErrorLog
from gateway.web.fastpath import FastPath
from gateway.web.middleware import GATE
from gateway.web.protocol import (
    FAST_PATH_SUPPORTED,
    MAX_HEADERS,
    MAX_LINE,
    HubRequestHandler,
    answer_expect_later,
    in_request,
)

log = logging.getLogger("hcgw.connections")

NOFILE_CEILING = 1 << 20  # the soft open-file limit sought when the hard one is unlimited
ADMIN_CONNECTIONS = 64  # the operator listener's share of the cap
_REFUSAL_LINGER = 1.0  # seconds a refused connection may take to read its 503
_REFUSALS_LINGERING = 32  # refused connections lingering at once, at most
_NOTE_EVERY = 10.0  # seconds between two log lines about refused or closed connections


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int  # per listener of one worker
    header_timeout: float  # seconds for a request head to arrive; also the keep-alive deadline


def raise_open_file_limit() -> tuple[int, int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit: (soft before, soft, hard)."""
    before, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(before, NOFILE_CEILING)
    if target > before:
        # A container may refuse; the connection cap follows whatever is in force.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return before, soft, hard


def connection_cap(open_files: int, configured: int) -> int:
    """Connections one worker may hold: below the open-file limit by a reserve for Redis pools,
    log and metric files and listeners; ``configured`` (0: as many as fit) can only lower it."""
    fits = max(1, open_files - max(128, open_files // 8))
    return min(configured, fits) if configured > 0 else fits


class _Tally:
    """Counts of connections refused or closed, logged at most once every ``_NOTE_EVERY`` s."""

    def __init__(self, loop: asyncio.AbstractEventLoop, cap: int) -> None:
        self._loop = loop
        self._cap = cap
        self._counts: dict[str, int] = {}
        self._last = -_NOTE_EVERY

    def note(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1
        if self._loop.time() - self._last >= _NOTE_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._counts:
            self._last = self._loop.time()
            counts = ", ".join(f"{n} {what}" for what, n in sorted(self._counts.items()))
            log.warning("connections (at most %d): %s", self._cap, counts)
            self._counts.clear()


_RequestFactory = Callable[
    [
        RawRequestMessage,
        StreamReader,
        web.RequestHandler,
        AbstractStreamWriter,
        "asyncio.Task[None]",
    ],
    web.BaseRequest,
]


class HubServer(web.Server):
    """aiohttp's Server with the connection cap, HubRequestHandler and a graceful shutdown."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Any],
        *,
        request_factory: _RequestFactory,
        limits: ConnectionLimits,
        count_error: Callable[[str], None],
        loop: asyncio.AbstractEventLoop,
        handler_cancellation: bool = False,
        fast: FastPath | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            handler,
            request_factory=self._make_hub_request,
            handler_cancellation=handler_cancellation,
            loop=loop,
            **kwargs,
        )
        self._app_request_factory = request_factory
        self._limits = limits
        self._count_error = count_error
        self._event_loop = loop
        self._handler_kwargs = kwargs
        self._fast = fast
        self._open: dict[HubRequestHandler, None] = {}  # oldest first
        self._errors_log = ErrorLog()
        self.tally = _Tally(loop, limits.max_connections)
        self.refusals_lingering = 0

    # aiohttp types the factory as returning a RequestHandler; the loop needs only a Protocol.
    def __call__(self) -> asyncio.Protocol:  # type: ignore[override]
        """The protocol for a connection just accepted."""
        if len(self._open) >= self._limits.max_connections and not self._evict_one():
            self.tally.note("refused: every connection in a request")
            self._count_error(Overloaded.error)
            return _Refused(self)
        return HubRequestHandler(
            self,
            loop=self._event_loop,
            header_timeout=self._limits.header_timeout,
            on_late_head=self._late_head,
            on_refusal=self.refused,
            fast=self._fast,
            **self._handler_kwargs,
        )

    def _evict_one(self) -> bool:
        for connection in self._open:
            if not in_request(connection):
                del self._open[connection]
                connection.force_close()
                self.tally.note("closed while idle to make room")
                return True
        return False

    def _late_head(self) -> None:
        self.tally.note("closed at the header deadline")

    def refused(self, error: HcgwError, exc: BaseException | None) -> None:
        """Count and log a refusal of the parser's (or of aiohttp's) without its text."""
        self._count_error(error.error)
        cause = type(exc).__name__ if exc is not None else None
        self._errors_log.error(error.status, error.error, "(unparsed)", "-", error.detail, cause)

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if isinstance(handler, HubRequestHandler):
            self._open[handler] = None

    def connection_lost(
        self, handler: web.RequestHandler, exc: BaseException | None = None
    ) -> None:
        super().connection_lost(handler, exc)
        self._open.pop(handler, None)  # type: ignore[call-overload]

    def _make_hub_request(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: web.RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        if isinstance(protocol, HubRequestHandler):
            protocol.head_received()
            if hdrs.EXPECT in message.headers:
                message = answer_expect_later(message, protocol)
        return self._app_request_factory(message, payload, protocol, writer, task)

    def pre_shutdown(self) -> None:
        """Close the connections that wait for a request; the others finish theirs first."""
        for connection in self.connections:
            if not in_request(connection):
                connection.close()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - aiohttp's
        """Let requests in progress finish, still reading their bodies, then close everything."""
        deadline = self._event_loop.time() + (timeout if timeout is not None else 3600.0)
        while self._event_loop.time() < deadline:
            busy = [c for c in self.connections if in_request(c)]
            if not busy:
                break
            for connection in self.connections:
                if connection not in busy:
                    connection.close()
            await asyncio.sleep(0.05)
        for connection in self.connections:  # answered since: waiting for a request now
            if not in_request(connection):
                connection.close()
        self.tally.flush()
        # Never 0: aiohttp reads a timeout of 0 as none at all.
        await super().shutdown(max(0.01, deadline - self._event_loop.time()))


class _Refused(asyncio.Protocol):
    """A connection over the cap: a short 503 ``overloaded``, then closed. What the client sends
    meanwhile is read and dropped (closing on unread bytes would reset the 503 away) for at most
    ``_REFUSAL_LINGER`` seconds; past ``_REFUSALS_LINGERING`` such sockets, closed at once."""

    def __init__(self, server: HubServer) -> None:
        self._server = server
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio subclass
        transport.write(_REFUSED)
        if self._server.refusals_lingering >= _REFUSALS_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        self._server.refusals_lingering += 1
        transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(_REFUSAL_LINGER, transport.abort)

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._server.refusals_lingering -= 1


def _refused_bytes() -> bytes:
    body = b'{"error": "overloaded", "detail": "the hub holds all the connections it can"}'
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Retry-After: 1\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


_REFUSED = _refused_bytes()


class HubRunner(web.AppRunner):
    """An AppRunner whose server is a ``HubServer`` with the hub's limits."""

    def __init__(
        self,
        app: web.Application,
        *,
        limits: ConnectionLimits,
        count_error: Callable[[str], None] = lambda error: None,
        access_log: logging.Logger | None = None,
        shutdown_timeout: float = 60.0,
        fast_path: bool = True,
    ) -> None:
        super().__init__(app, shutdown_timeout=shutdown_timeout)
        # The hub's own app answers POST /v1/verify by the fast path; an operator app has none.
        self._fast = FastPath(app) if fast_path and GATE in app else None
        if self._fast is not None and not FAST_PATH_SUPPORTED:  # pragma: no cover
            log.warning(
                "this aiohttp lacks what the fast path needs: aiohttp answers every request"
            )
        self._limits = limits
        self._count_error = count_error
        self._handler_kwargs: dict[str, Any] = {
            "keepalive_timeout": limits.header_timeout,
            "max_line_size": MAX_LINE,
            "max_field_size": MAX_LINE,
            "max_headers": MAX_HEADERS,
            "auto_decompress": False,  # the hub refuses encoded bodies itself (415)
            "access_log": access_log,
        }

    @property
    def fast_path(self) -> FastPath | None:
        return self._fast

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app; its handler and factory are kept
        return HubServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            limits=self._limits,
            count_error=self._count_error,
            loop=asyncio.get_running_loop(),
            fast=self._fast,
            **self._handler_kwargs,
        )
