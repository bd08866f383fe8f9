"""One HTTP connection of the hub's listener: its header deadline and the parser's refusals.

aiohttp answers a request its parser cannot read in text/plain, quoting the bytes it refused,
and logs a traceback that quotes them again (a malformed ``Authorization`` header's token with
it). ``HubRequestHandler.handle_error`` answers SPEC §7 JSON with a fixed detail instead, and the
log names only the parser's exception class. It also closes a connection that has not sent a
complete request head ``header_timeout`` seconds after it opened (later requests are held to the
same time by aiohttp's keep-alive deadline; aiohttp 3.13 never closes a connection that sends
nothing), and answers ``Expect: 100-continue`` only when the hub starts reading the body
(``send_continue``), after the checks that may answer first. It hands the requests that
``gateway.web.fastpath`` answers alone to it, in request order (``data_received``).
``gateway.web.connections`` holds the connections together: the cap, the open-file limit and
shutdown.

Besides the documented API this relies on ``RequestHandler._request_in_progress`` (checked at
import), and the fast path on the attributes named in ``_FAST_PATH_NEEDS`` (without one of them
it is off), and on aiohttp 3.14's ``_parser`` and ``_buffer_paused`` where they exist. The
subclass is the same on aiohttp 3.13.3 and 3.14.5, and tests/test_http_*.py pass on both but for
one: aiohttp 3.13 does not enforce ``max_headers``, so there a request with 5,000 headers is
served. Only the hub's own listeners (``hcgw serve``) have these guards; the gunicorn deployment
the bench compares has aiohttp's.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.errors import BadRequest, HcgwError, MethodNotAllowed
from gateway.web.answers import json_response

if TYPE_CHECKING:
    from gateway.web.fastpath import FastPath

log = logging.getLogger("hcgw.connections")

MAX_LINE = 8190  # bytes in the request line and in one header line (aiohttp's default)
MAX_HEADERS = 128  # header lines in one request (aiohttp's default)
_HUB_METHODS = "GET, HEAD, POST"  # every method some route of the hub answers
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

if "_request_in_progress" not in web.RequestHandler.__slots__:  # pragma: no cover
    # Without it every connection would look idle: shutdown and the cap would cut requests.
    raise ImportError("gateway.web.protocol needs aiohttp's RequestHandler._request_in_progress")

# What the fast path (``gateway.web.fastpath``) reads and sets of aiohttp's connection: its
# queue of parsed requests, the future its request loop parks on, and its keep-alive deadline.
# Without one of them every request takes aiohttp's way, and the log says so once.
_FAST_PATH_NEEDS = ("_messages", "_waiter", "_keepalive", "_keepalive_handle",
                    "_keepalive_timeout", "_next_keepalive_close_time",
                    "_request_count")  # fmt: skip
_SLOTS = {name for cls in web.RequestHandler.__mro__ for name in getattr(cls, "__slots__", ())}
FAST_PATH_SUPPORTED = all(name in _SLOTS for name in _FAST_PATH_NEEDS)
_FAST_QUEUE_MAX = 32  # requests one connection may have waiting for the fast path (aiohttp: 32)


def in_request(connection: web.RequestHandler) -> bool:
    """True from a request's head until its answer is written."""
    return connection._request_in_progress


def _refusal(error: HcgwError) -> web.Response:
    response = json_response(error.body(), status=error.status, headers=error.headers)
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


class HubRequestHandler(web.RequestHandler):
    """One connection: the header deadline, JSON refusals, nothing of the request in the log."""

    __slots__ = (
        "_answered",
        "_fast",
        "_fast_queue",
        "_fast_task",
        "_head_deadline",
        "_head_timeout",
        "_on_late_head",
        "_on_refusal",
        "continue_expected",
    )

    def __init__(
        self,
        manager: web.Server,
        *,
        header_timeout: float,
        on_late_head: Callable[[], None],
        on_refusal: Callable[[HcgwError, BaseException | None], None],
        fast: FastPath | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, **kwargs)
        # An access log would miss what the fast path answers: with one, aiohttp answers all.
        self._fast = fast if FAST_PATH_SUPPORTED and self.access_logger is None else None
        self._fast_queue: deque[tuple[RawRequestMessage, StreamReader]] = deque()
        self._fast_task: asyncio.Task[None] | None = None
        self._answered = 0  # requests answered, by aiohttp or the fast path; aiohttp counts parsed
        self._head_timeout = header_timeout
        self._on_late_head = on_late_head
        self._on_refusal = on_refusal
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
        self._on_late_head()

    def data_received(self, data: bytes) -> None:
        """Parse as aiohttp does; then the fast path may take the requests that came, when it
        can answer them in order: aiohttp's loop is parked with nothing queued (whatever is in
        flight is the fast path's), or it is between requests with every request so far
        answered (its resumption, queued before the fast path's task, finds nothing and
        parks)."""
        if self._fast is None:
            self._parse(data)
            return
        waiter = self._waiter
        parked = waiter is not None and not waiter.done()
        between = waiter is None and not self._messages and self._answered == self._request_count
        if parked:
            self._waiter = None  # aiohttp stays parked while the requests that came are looked at
        try:
            self._parse(data)
        finally:
            if parked:
                self._waiter = waiter
        if parked and waiter is not None:
            self._take_fast(waiter)
        elif between and self._messages and all(self._fast_answers(m) for m in self._messages):
            self._take_fast(None)  # all or none: aiohttp's loop would answer what is left first

    def _parse(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except Exception as exc:  # noqa: BLE001 - asyncio would log it with the bytes it holds
            log.error("closing a connection: the HTTP parser raised %s", type(exc).__name__)
            self.force_close()

    def _fast_answers(self, queued: tuple[Any, StreamReader]) -> bool:
        message, payload = queued
        return (
            self._fast is not None
            and isinstance(message, RawRequestMessage)  # not a parser's refusal
            and self._fast.eligible(message, payload)
        )

    def _take_fast(self, waiter: asyncio.Future[None] | None) -> None:
        """Move the requests at the head of aiohttp's queue that the fast path answers to its
        own queue, in order; aiohttp's loop is woken for the rest once the fast path is done."""
        queue = self._messages
        # A paused read holds aiohttp's way until its loop drains the queue (aiohttp 3.14).
        while (
            queue
            and not getattr(self, "_buffer_paused", False)
            and len(self._fast_queue) < _FAST_QUEUE_MAX
            and self._fast_answers(queue[0])
        ):
            message, payload = queue.popleft()
            parser = getattr(self, "_parser", None)  # aiohttp 3.14's parser counts its slots
            if parser is not None and hasattr(parser, "message_consumed"):
                parser.message_consumed()
            self._fast_queue.append((message, payload))  # type: ignore[arg-type]
        if self._fast_task is None:
            if self._fast_queue:
                # In a request from now on, as aiohttp's are from their head: a shutdown lets
                # what was taken be answered (HubServer.pre_shutdown closes idle ones only).
                self._request_in_progress = True
                self._fast_task = self._loop.create_task(self._answer_fast())
            elif queue and waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def _answer_fast(self) -> None:
        fast = self._fast
        assert fast is not None
        loop = self._loop
        try:
            while self._fast_queue and self.transport is not None and not self._force_close:
                message, payload = self._fast_queue.popleft()
                self.head_received()
                try:
                    self._manager.requests_count += 1  # type: ignore[union-attr]
                    answer = await fast.answer(message, payload)
                    if self.transport is not None:
                        self.transport.write(answer)
                finally:
                    self._answered += 1
                self._keepalive = True  # as aiohttp's loop, after each request
                self._next_keepalive_close_time = loop.time() + self._keepalive_timeout
                if self._keepalive_handle is None:
                    self._keepalive_handle = loop.call_at(
                        self._next_keepalive_close_time, self._process_keepalive
                    )
        except Exception as exc:  # noqa: BLE001 - the gate answers every error; this is a bug
            log.error("closing a connection: the fast path raised %s", type(exc).__name__)
            self.force_close()
        finally:
            self._request_in_progress = False
            self._fast_task = None
            self._fast_queue.clear()
            waiter = self._waiter  # aiohttp's loop takes whatever came after
            if waiter is not None and not waiter.done() and self._messages:
                waiter.set_result(None)

    def _process_keepalive(self) -> None:
        if self._fast_task is not None:  # busy: the fast path sets the next deadline
            self._keepalive_handle = None
            return
        super()._process_keepalive()

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
        self._on_refusal(error, exc)
        return _refusal(error)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if self.continue_expected:  # answered before the 100: the body will not come
            self.continue_expected = False
            resp.force_close()
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self._answered += 1  # no await follows before aiohttp's loop resumes

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's own error lines, without the exception's text (it may quote the request)."""
        exc_info = kw.get("exc_info")
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        text = str(args[0]).replace("%s", "-") if args else "error"  # no client address
        self.logger.error("%s (%s at %s)", text, type(exc).__name__, _where(exc))


def answer_expect_later(
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
