"""Structured error log lines: one JSON object per error answer, on logger ``hcgw.errors``.

A line holds what an operator can act on and nothing a client sent: the status, the error code,
the route pattern (``/v1/issuers/{iss}/keys``, never the path), the method; for a 5xx the hub's
own detail text; for a 500 the exception type and where it was raised (file, line, function),
not its message, which could quote data. A bad day must not drown the log (or the hub): each
(error, route) logs at most one line a second, and the next line says how many it stood for.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable

log = logging.getLogger("hcgw.errors")

EVERY = 1.0  # seconds between two lines of the same (error, route)


class ErrorLog:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def error(
        self,
        status: int,
        error: str,
        route: str,
        method: str,
        detail: str | None = None,
        cause: str | None = None,
    ) -> None:
        record: dict[str, object] = {
            "event": "error",
            "status": status,
            "error": error,
            "route": route,
            "method": method,
        }
        if status >= 500 and detail:
            record["detail"] = detail
        if cause:
            record["cause"] = cause  # an exception class name of aiohttp's parser, never its text
        self._emit(record, logging.WARNING if status >= 500 else logging.INFO)

    def exception(self, exc: BaseException, route: str, method: str) -> None:
        frames = traceback.extract_tb(exc.__traceback__)[-8:]
        record: dict[str, object] = {
            "event": "error",
            "status": 500,
            "error": "internal",
            "route": route,
            "method": method,
            "exception": type(exc).__name__,
            "where": [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames],
        }
        self._emit(record, logging.ERROR)

    def _emit(self, record: dict[str, object], level: int) -> None:
        key = (str(record["error"]), str(record["route"]))
        now = self._clock()
        if now - self._last.get(key, -EVERY) < EVERY:
            self._held[key] = self._held.get(key, 0) + 1
            return
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record["repeats"] = held  # errors like this one since the last line
        log.log(level, json.dumps(record, ensure_ascii=False))
