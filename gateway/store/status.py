"""The status store: each subject's colour and status version, and each issuer's mark.

Applying a ``status`` message is one Lua script (the nonce, the seq rule, the per-subject ``sv``
rule and the new mark together), so the mark can only ever fall back together with its events,
and the client's retry of the script, when its reply was lost, gets the answer the first run gave
(scripts.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack

from gateway.core.admin import StatusEvent
from gateway.core.model import Colour, IssuerCode, Status
from gateway.errors import Replay, SeqGap, StaleSeq
from gateway.store import keys
from gateway.store.connection import RedisClient
from gateway.store.failures import redis_errors
from gateway.store.invalidation import Announcer, status_entry
from gateway.store.registry import REPLAYED, NonceUse
from gateway.store.scripts import STATUS_APPLY


def decode_status(packed: bytes | None) -> Status | None:
    if packed is None:
        return None
    sv, colour = msgpack.unpackb(packed)
    return Status(colour=Colour(colour), sv=sv)


class StatusStore:
    """With an ``announcer`` (leases), a message is acknowledged only once every
    worker holding a live lease has confirmed its invalidation."""

    def __init__(self, redis: RedisClient, announcer: Announcer | None = None) -> None:
        self._redis = redis
        self._apply = redis.register_script(STATUS_APPLY)
        self._announcer = announcer

    async def apply(self, seq: int, events: Sequence[StatusEvent], use: NonceUse) -> int:
        """Apply ``use.iss``'s message of ``seq = mark + 1``, using up its nonce; → how many
        events applied."""
        iss = use.iss
        args: list[bytes | int] = [use.attempt, use.ttl, seq]
        for event in events:
            args += (event.sv, int(event.colour))
        keys_: list[str | bytes] = [
            use.key,
            keys.mark(iss),
            *(keys.status(iss, e.sub) for e in events),
        ]
        async with redis_errors("applying status events"):
            if self._announcer is None:
                kind, value = await self._apply(keys=keys_, args=args)
            else:
                entry = status_entry(iss, [e.sub for e in events])
                kind, value = await self._announcer.write(self._apply, keys_, args, entry)
        if kind == b"replay":
            raise Replay(REPLAYED)
        if kind == b"stale_seq":
            raise StaleSeq(f"seq {seq} is at or below the mark {value}", mark=int(value))
        if kind == b"seq_gap":
            raise SeqGap(f"seq {seq} skips past the mark {value} + 1", mark=int(value))
        return int(value)

    async def mark(self, iss: IssuerCode) -> int:
        async with redis_errors("reading the mark"):
            return int(await self._redis.get(keys.mark(iss)) or 0)

    async def get(self, iss: IssuerCode, sub: bytes) -> Status | None:
        async with redis_errors("reading a status"):
            packed: Any = await self._redis.get(keys.status(iss, sub))
        return decode_status(packed)
