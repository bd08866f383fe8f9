"""Verifier clients (SPEC §5): bearer tokens looked up by their SHA-256, scopes, rates."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from aiohttp import web

from gateway.config import ClientConfig
from gateway.errors import Forbidden, Unauthenticated


class Clients:
    def __init__(self, clients: Iterable[ClientConfig]) -> None:
        self._by_digest = {c.token_sha256: c for c in clients}

    def authenticate(self, request: web.Request, scope: str) -> ClientConfig:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("send Authorization: Bearer <token>")
        client = self._by_digest.get(hashlib.sha256(token.strip().encode()).digest())
        if client is None:
            raise Unauthenticated("unknown token")
        if scope not in client.scopes:
            raise Forbidden(f"this client lacks the {scope!r} scope")
        return client
