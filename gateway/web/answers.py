"""JSON answers other than verdicts (``gateway.web.verdicts`` encodes those with msgspec).

UTF-8 as it is, never ``\\uXXXX`` escapes: an issuer's name reads ``广东``, a masked name ``周**``.
Every handler, the error middleware and the parser's refusals answer through ``json_response``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``application/json; charset=utf-8``, the same bytes as aiohttp's but for the escapes."""
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)
