"""The hub's log: how every logger's records are written, and the error lines it writes itself.

**Lines.** Every record of every logger in the process (the hub's, the supervisor's, the audit
log, aiohttp's, asyncio's) is one line on stderr, in one of two formats (``log_format``):

- ``json`` (the default of ``hcgw serve``): one JSON object per line, ``ts`` (RFC 3339, UTC,
  milliseconds), ``level``, ``logger``, then either ``msg`` or, for a record whose message is
  one JSON object (the audit and error lines), that object's fields at the top level. A record
  may carry more fields (``extra={"fields": {...}}``: the start-up and shutdown lines); a
  traceback goes into ``exc``.
- ``text``: ``<ts> <LEVEL> <logger> <message>``, the same UTC timestamp, for a terminal.

**Error lines** (logger ``hcgw.errors``): one JSON object per error answer. A line holds what
an operator can act on and nothing a client sent: the status, the error code, the route pattern
(``/v1/issuers/{iss}/keys``, never the path), the method; for a 5xx the hub's own detail text;
for a 500 the exception type and where it was raised (file, line, function), not its message,
which could quote data. A bad day must not drown the log (or the hub): each (error, route) logs
at most one line a second, and the next line says how many it stood for.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

log = logging.getLogger("hcgw.errors")

EVERY = 1.0  # seconds between two lines of the same (error, route)
_OWN = ("ts", "level", "logger")  # a record's own keys: no field of its message replaces them


def rfc3339(record: logging.LogRecord) -> str:
    """The record's time in UTC, to the millisecond: ``2026-12-01T00:36:12.419Z``."""
    moment = datetime.fromtimestamp(record.created, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{int(record.msecs):03d}Z"


def _fields_of(message: str) -> dict[str, Any] | None:
    """The fields of a message that is one JSON object (audit and error lines), else None."""
    if not (message.startswith("{") and message.endswith("}")):
        return None
    try:
        fields = json.loads(message)
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


class JsonLines(logging.Formatter):
    """One JSON object per record (the module docstring says which keys)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": rfc3339(record),
            "level": record.levelname,
            "logger": record.name,
        }
        message = record.getMessage()
        fields = _fields_of(message)
        if fields is None:
            line["msg"] = message
        else:
            line |= {k: v for k, v in fields.items() if k not in _OWN}
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            line |= {k: v for k, v in extra.items() if k not in _OWN}
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLines(logging.Formatter):
    """``<ts> <LEVEL> <logger> <message>``, with the JSON formatter's UTC timestamp."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return rfc3339(record)


def configure_logging(log_format: str, level: str | int, stream: IO[str]) -> None:
    """Send every logger's records to ``stream`` in ``log_format`` (``json`` or ``text``)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines() if log_format == "json" else TextLines())
    logging.basicConfig(level=level, handlers=[handler], force=True)


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
