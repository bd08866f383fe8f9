"""The HTTP connection: its limits, its deadlines and the parser's own refusals.

aiohttp's documented knobs carry most of it (``HubRunner`` passes them): the parser's line and
header limits, ``keepalive_timeout`` as the idle deadline between requests, and
``auto_decompress=False`` so a ``Content-Encoding`` reaches the hub's own 415 (``bodies``)
instead of aiohttp's 400. Four things have no knob, so two small subclasses add them:

- **The parser's refusals** (``HubRequestHandler.handle_error``): aiohttp answers a request it
  cannot parse in text/plain, quoting the bytes it refused, and logs a traceback that quotes them
  again (a malformed ``Authorization`` header's token with it). Here they are SPEC §7 JSON with a
  fixed detail, and the log line names only the parser's exception class.
- **A header deadline**: a connection must deliver its first request head within
  ``header_timeout`` seconds (later requests are held to the same time by the keep-alive
  deadline); aiohttp 3.13 never closes a connection that sends nothing.
- **A connection cap** (``HubServer``): past ``max_connections`` a new connection takes the slot
  of the oldest one that is waiting for a request (an idle or silent socket); when every
  connection is in a request, it is answered 503 ``overloaded`` and closed. The cap sits below
  the open-file limit, so ``accept`` never meets EMFILE and a flood of idle sockets cannot shut
  well-behaved clients out.
- **Graceful shutdown of a request whose body is still arriving**: aiohttp's ``pre_shutdown``
  marks every connection closing, and a closing connection drops what it receives, so such a
  request waited out the grace and failed. ``HubServer`` lets a connection in a request keep
  reading until it has answered, and closes the idle ones at once.

Besides the documented API this relies on ``RequestHandler._request_in_progress`` (checked at
import) and on overriding ``AppRunner._make_server``; both are the same in aiohttp 3.13.3 and
3.14.5, and tests/test_http_*.py pass on both but for one: aiohttp 3.13 does not enforce
``max_headers``, so there a request with 5,000 headers is served. Only the hub's own listeners
(``hcgw serve``) have these guards; the gunicorn deployment the bench compares has aiohttp's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.errors import BadRequest, HcgwError, MethodNotAllowed, Overloaded
from gateway.metrics.logs import ErrorLog

log = logging.getLogger("hcgw.connections")

MAX_LINE = 8190  # bytes in the request line and in one header line (aiohttp's default)
MAX_HEADERS = 128  # header lines in one request (aiohttp's default)
NOFILE_CEILING = 1 << 20  # the soft open-file limit sought when the hard one is unlimited
ADMIN_CONNECTIONS = 64  # the operator listener's share of the cap
_HUB_METHODS = "GET, HEAD, POST"  # every method some route of the hub answers
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
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


def _refusal(error: HcgwError) -> web.Response:
    response = web.json_response(error.body(), status=error.status, headers=error.headers)
    response.force_close()
    return response


def _parser_refusal(exc: BaseException | None, status: int) -> HcgwError:
    """What the hub says about a request aiohttp refused; never a byte of the request itself."""
    if status >= 500:
        return HcgwError("an unexpected error; it has been logged")
    if isinstance(exc, BadHttpMethod):
        return MethodNotAllowed(
            "the method is not one the hub knows (methods are upper case)",
            headers={"Allow": _HUB_METHODS},
        )
    if isinstance(exc, LineTooLong):
        return BadRequest(f"the request line or a header line is over {MAX_LINE} bytes")
    return BadRequest(
        f"the request is not well-formed HTTP/1.1, or has over {MAX_HEADERS} header lines"
    )


def _where(exc: BaseException | None) -> str:
    if exc is None:
        return "-"
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return ", ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames) or "-"


if "_request_in_progress" not in web.RequestHandler.__slots__:  # pragma: no cover
    # Without it every connection would look idle: shutdown and the cap would cut requests.
    raise ImportError("gateway.web.protocol needs aiohttp's RequestHandler._request_in_progress")


def _in_request(connection: web.RequestHandler) -> bool:
    return connection._request_in_progress


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


class HubRequestHandler(web.RequestHandler):
    """One connection: the header deadline, JSON refusals, nothing of the request in the log."""

    __slots__ = ("_head_deadline", "_head_timeout", "_hub", "continue_expected")

    def __init__(self, manager: HubServer, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._hub = manager
        self._head_timeout = header_timeout
        self._head_deadline: asyncio.TimerHandle | None = None
        self.continue_expected = False  # an ``Expect: 100-continue`` the hub has not answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._head_timeout > 0:
            self._head_deadline = asyncio.get_running_loop().call_later(
                self._head_timeout, self._head_too_late
            )

    def connection_lost(self, exc: BaseException | None) -> None:
        self.head_received()
        super().connection_lost(exc)

    def head_received(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_late(self) -> None:
        self._head_deadline = None
        self.force_close()
        self._hub.tally.note("closed at the header deadline")

    def data_received(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except Exception as exc:  # noqa: BLE001 - asyncio would log it with the bytes it holds
            log.error("closing a connection: the HTTP parser raised %s", type(exc).__name__)
            self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: an answer has begun, only closing is left
            raise ConnectionError("the response has begun; it cannot become an error")
        error = _parser_refusal(exc, status)
        self._hub.refused(error, exc)
        return _refusal(error)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if self.continue_expected:  # answered before the 100: the body will not come
            self.continue_expected = False
            resp.force_close()
        return await super().finish_response(request, resp, start_time)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's own error lines, without the exception's text (it may quote the request)."""
        exc_info = kw.get("exc_info")
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        text = str(args[0]).replace("%s", "-") if args else "error"  # no client address
        self.logger.error("%s (%s at %s)", text, type(exc).__name__, _where(exc))


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
            **self._handler_kwargs,
        )

    def _evict_one(self) -> bool:
        for connection in self._open:
            if not _in_request(connection):
                del self._open[connection]
                connection.force_close()
                self.tally.note("closed while idle to make room")
                return True
        return False

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
                message = _answer_expect_later(message, protocol)
        return self._app_request_factory(message, payload, protocol, writer, task)

    def pre_shutdown(self) -> None:
        """Close the connections that wait for a request; the others finish theirs first."""
        for connection in self.connections:
            if not _in_request(connection):
                connection.close()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - aiohttp's
        """Let requests in progress finish, still reading their bodies, then close everything."""
        deadline = self._event_loop.time() + (timeout if timeout is not None else 3600.0)
        while self._event_loop.time() < deadline:
            busy = [c for c in self.connections if _in_request(c)]
            if not busy:
                break
            for connection in self.connections:
                if connection not in busy:
                    connection.close()
            await asyncio.sleep(0.05)
        self.tally.flush()
        # Never 0: aiohttp reads a timeout of 0 as none at all.
        await super().shutdown(max(0.01, deadline - self._event_loop.time()))


def _answer_expect_later(
    message: RawRequestMessage, protocol: HubRequestHandler
) -> RawRequestMessage:
    """Drop ``Expect`` before routing: aiohttp would answer 100 Continue before any check (and
    417 in text quoting the header to any other expectation). The hub sends the 100 when it
    starts reading the body, after the checks that may answer first (``send_continue``)."""
    headers = CIMultiDict(message.headers)
    expect = headers.popall(hdrs.EXPECT, [])
    protocol.continue_expected = message.version == HttpVersion11 and any(
        value.strip().lower() == "100-continue" for value in expect
    )
    raw = tuple((k, v) for k, v in message.raw_headers if k.lower() != b"expect")
    return message._replace(headers=CIMultiDictProxy(headers), raw_headers=raw)


async def send_continue(request: web.BaseRequest) -> None:
    """Send the 100 Continue a client waits for, once, as the hub starts reading its body."""
    protocol = request.protocol
    if isinstance(protocol, HubRequestHandler) and protocol.continue_expected:
        protocol.continue_expected = False
        await request.writer.write(_CONTINUE)
        request.writer.output_size = 0  # the answer itself has not begun


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
    ) -> None:
        super().__init__(app, shutdown_timeout=shutdown_timeout)
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

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app; its handler and factory are kept
        return HubServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            limits=self._limits,
            count_error=self._count_error,
            loop=asyncio.get_running_loop(),
            **self._handler_kwargs,
        )
