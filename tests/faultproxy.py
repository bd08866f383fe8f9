"""A loopback TCP proxy in front of a real Redis that loses one reply on purpose.

``ReplyDropper`` listens on 127.0.0.1 and forwards every connection to the Redis behind it (TCP
or unix socket). Armed with a needle (bytes that appear only in the command to hit), it forwards
the first client write holding the needle to Redis, waits until Redis has begun to answer (so the
command has run), then closes both sides without passing the answer on: the client sees its
connection lost after the server acted, the failure redis-py's retry is meant for and the one it
cannot tell from a command that never arrived. (An answer ``NOSCRIPT`` means the script did not
run: it is passed on and the proxy stays armed.)
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlparse


class ReplyDropper:
    def __init__(self, upstream_url: str) -> None:
        self._upstream = urlparse(upstream_url)
        self._server: asyncio.Server | None = None
        self._needle: bytes | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.dropped = 0  # replies lost so far (each arming loses at most one)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def arm(self, needle: bytes) -> None:
        """Lose the answer to the next command whose bytes hold ``needle``, once."""
        self._needle = needle

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._upstream.scheme == "unix":
            return await asyncio.open_unix_connection(self._upstream.path)
        return await asyncio.open_connection(self._upstream.hostname, self._upstream.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await self._open_upstream()
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        replies = asyncio.create_task(_pipe(up_reader, writer))
        try:
            tail = b""  # so a needle split over two reads is still seen
            while chunk := await reader.read(65536):
                seen, tail = tail + chunk, (tail + chunk)[-64:]
                if self._needle is not None and self._needle in seen:
                    replies.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await replies
                    up_writer.write(chunk)
                    await up_writer.drain()
                    answer = await up_reader.read(65536)
                    if b"-NOSCRIPT" not in answer:  # it ran: lose the answer
                        self._needle = None
                        self.dropped += 1
                        break
                    # A script Redis did not know yet did not run: pass that on, stay armed.
                    writer.write(answer)
                    replies = asyncio.create_task(_pipe(up_reader, writer))
                    continue
                up_writer.write(chunk)
                await up_writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            replies.cancel()
            for w in (writer, up_writer):
                w.close()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()
