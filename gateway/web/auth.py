"""Verifier clients (SPEC §5): bearer tokens looked up by their SHA-256, scopes, rates."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from aiohttp import web

from gateway.config import ClientConfig
from gateway.errors import Forbidden, Unauthenticated

# RFC 6750 §2.1 credentials, the scheme case-insensitive (SPEC §5) and one space before the
# b64token (RFC 6750 allows more; SPEC §5 writes one): anything else is no token at all. The
# HTTP parser has already dropped the whitespace around the field value (RFC 9110 §5.5).
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)")


class Clients:
    def __init__(self, clients: Iterable[ClientConfig]) -> None:
        self._by_digest = {c.token_sha256: c for c in clients}

    def authenticate(self, request: web.Request, scope: str) -> ClientConfig:
        credentials = _BEARER.fullmatch(request.headers.get("Authorization", ""))
        if credentials is None:
            raise Unauthenticated("send Authorization: Bearer <token>")
        client = self._by_digest.get(hashlib.sha256(credentials[1].encode()).digest())
        if client is None:
            raise Unauthenticated("unknown token")
        if scope not in client.scopes:
            raise Forbidden(f"this client lacks the {scope!r} scope")
        return client
