"""``POST /v1/verify`` answered without aiohttp's per-request machinery.

aiohttp's server spends about 45 µs on a request before and after its handler: the request
object, a task for it, the router and the middleware chain, the response's headers and its
writer. A plain protocol on aiohttp's own parser answers the same empty POST in 20 µs (49,000
against 15,000 requests/s under wrk on the development machine), and a cached single code costs
the hub's own code about 70 µs, so that machinery was most of the gap to the empty handler.

The hub's connections (``gateway.web.protocol.HubRequestHandler``) give this module the requests
it can answer alone, and only those: ``POST /v1/verify`` exactly (no query), HTTP/1.1 without
``Connection: close``, a ``Content-Length`` body that has arrived whole, no ``Expect``, no
``Transfer-Encoding``, no upgrade, and no access log on the listener. Any other request, and
every request after it on its connection until aiohttp is idle again, takes aiohttp's way. The
answer is the same either way: the same handler code (``handlers.answer_verification``) through
the same ``Gate`` (the in-flight limit, SPEC §7 errors, the request metrics), written as the
bytes aiohttp writes for the same answer: a verdict's head is made once per media type, an
error's from its ``web.Response`` (``tests/test_http_fastpath.py`` compares the two ways).
Batches stay on aiohttp's way: a batch's own work is a hundred times the machinery's, and its
answers can be large enough to need the writer's flow control.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from email.utils import formatdate

from aiohttp import hdrs, web
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader

from gateway.web import bodies
from gateway.web.handlers import Rendered, answer_verification
from gateway.web.hub import HUB
from gateway.web.middleware import GATE

PATH = "/v1/verify"
_ROUTE = PATH  # the route's name in the metrics: its canonical path, as aiohttp's way gives
_SERVER = f"Server: {SERVER_SOFTWARE}\r\n".encode()
# A verdict's head up to its length, as aiohttp writes it for Rendered.response() (tested).
_JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: "
_MSGPACK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\nContent-Length: "


class FastPath:
    """Answers the eligible requests of one application (``eligible``, then ``answer``)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._date = _DateHeader()
        self.answered = 0  # requests this path has answered, for tests and investigations

    @staticmethod
    def eligible(message: RawRequestMessage, payload: StreamReader) -> bool:
        return (
            message.path == PATH
            and message.method == hdrs.METH_POST
            and message.version == HttpVersion11
            and not message.should_close
            and not message.upgrade
            and not message.chunked
            and hdrs.CONTENT_LENGTH in message.headers
            and hdrs.EXPECT not in message.headers
            and hdrs.TRANSFER_ENCODING not in message.headers
            and payload.is_eof()
        )

    async def answer(self, message: RawRequestMessage, payload: StreamReader) -> bytes:
        """The whole answer to an eligible request, as it goes on the wire."""
        headers = message.headers
        read = functools.partial(bodies.whole_body, headers, payload.read_nowait())
        call = functools.partial(answer_verification, self._app[HUB], headers, read, batch=False)
        answer = await self._app[GATE].answer(_ROUTE, hdrs.METH_POST, True, call)
        self.answered += 1
        if isinstance(answer, Rendered):
            head = _MSGPACK_HEAD if answer.msgpack else _JSON_HEAD
            length = b"%d\r\n" % len(answer.body)
            return head + length + self._date() + _SERVER + b"\r\n" + answer.body
        return self.wire(answer)

    def wire(self, response: web.Response) -> bytes:
        """``response`` as aiohttp writes it on an HTTP/1.1 keep-alive connection."""
        body = response.body
        assert isinstance(body, bytes)
        head = [f"HTTP/1.1 {response.status} {response.reason}\r\n"]
        head.extend(f"{name}: {value}\r\n" for name, value in _named(response.headers))
        head.append(f"Content-Length: {len(body)}\r\n")
        return "".join(head).encode("latin-1") + self._date() + _SERVER + b"\r\n" + body


def _named(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k not in _SET_HERE]


_SET_HERE = frozenset({hdrs.CONTENT_LENGTH, hdrs.DATE, hdrs.SERVER})


class _DateHeader:
    """``Date: …\\r\\n`` in RFC 9110's IMF-fixdate, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = f"Date: {formatdate(now, usegmt=True)}\r\n".encode()
        return self._line
