"""Verifier clients (SPEC §5): bearer tokens looked up by their SHA-256, scopes, rates.

``Clients.authenticate`` takes the request's ``Authorization`` value (the web layer passes it
on); the hub holds one ``Clients`` and replaces it whole on SIGHUP (``gateway.worker``).

Refusals carry RFC 6750's challenge: ``WWW-Authenticate: Bearer realm="hcgw"`` on every 401,
with ``error="invalid_token"`` when a token was sent but is not enrolled, and
``error="insufficient_scope"`` on a 403 for a missing scope. The body stays SPEC §7's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from gateway.config import ClientConfig
from gateway.errors import Forbidden, Unauthenticated

# RFC 6750 §2.1 credentials, the scheme case-insensitive (SPEC §5) and one space before the
# b64token (RFC 6750 allows more; SPEC §5 writes one): anything else is no token at all. The
# HTTP parser has already dropped the whitespace around the field value (RFC 9110 §5.5).
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)")
_CHALLENGE = 'Bearer realm="hcgw"'
_KNOWN_MAX = 1024  # Authorization values remembered; more enrolled clients than that are looked up


class Clients:
    def __init__(self, clients: Iterable[ClientConfig]) -> None:
        self._by_digest = {c.token_sha256: c for c in clients}
        # Authorization values already found to bear an enrolled token: a client sends the same
        # one on every request. Only those are kept, so a flood of unknown tokens adds nothing;
        # a reload replaces this object, and the memo with it (gateway/worker.py).
        self._known: dict[str, ClientConfig] = {}

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, authorization: str, scope: str) -> ClientConfig:
        """The client whose token ``authorization`` (the header's value, ``""`` if none) bears,
        if it holds ``scope``: else 401 or 403, with RFC 6750's challenge."""
        credentials = _BEARER.fullmatch(authorization)
        if credentials is None:
            raise Unauthenticated(
                "send Authorization: Bearer <token>", headers={"WWW-Authenticate": _CHALLENGE}
            )
        client = self._by_digest.get(hashlib.sha256(credentials[1].encode()).digest())
        if client is None:
            raise Unauthenticated(
                "unknown token",
                headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
            )
        if scope not in client.scopes:
            raise Forbidden(
                f"this client lacks the {scope!r} scope",
                headers={
                    "WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", scope="{scope}"'
                },
            )
        if len(self._known) < _KNOWN_MAX:
            self._known[authorization] = client
        return client

    def change_to(self, clients: Iterable[ClientConfig]) -> str:
        """What replacing these clients with ``clients`` does, by id: for the log."""
        old = {c.id: c for c in self._by_digest.values()}
        new = {c.id: c for c in clients}
        parts = [
            f"{word} {', '.join(sorted(ids))}"
            for word, ids in (
                ("added", new.keys() - old.keys()),
                ("removed", old.keys() - new.keys()),
                ("changed", {i for i in new.keys() & old.keys() if new[i] != old[i]}),
            )
            if ids
        ]
        return "; ".join(parts) or "no change"
