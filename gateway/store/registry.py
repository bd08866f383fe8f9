"""The trust registry in Redis: code-signing keys, revocations, their stamp, nonces.

Redis (with ``appendfsync always``, docs/durability.md) is the registry's durable home; each
worker holds an immutable :class:`TrustSnapshot` built from it and rebuilds it whenever the
stamp it reads beside every lookup differs. Every write passes the highest version its worker
has seen (``floor``) and a new random token: a store that lost its data neither repeats a
stamp nor counts its versions back down (SPEC §6: verifiers refuse older trust lists).

A key message's nonce is claimed, and its write recorded, by one *attempt* (:class:`NonceUse`),
so that the client's retry of a call whose reply was lost gets that call's answer, not a
``replay`` or a ``kid_collision`` of its own making (scripts.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgpack
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from gateway.core.crypto import load_public_key
from gateway.core.model import IssuerCode, KeyId
from gateway.core.trust import KeyRecord, RegistryStamp, TrustSnapshot
from gateway.core.wire import encode_b64url
from gateway.errors import KidCollision, NotFound, Replay, Unavailable
from gateway.store import keys
from gateway.store.connection import RedisClient
from gateway.store.failures import redis_errors
from gateway.store.invalidation import Announcer, registry_entry
from gateway.store.scripts import (
    ATTEMPT_BYTES,
    KEY_ADD,
    KEY_REVOKE,
    NONCE_CLAIM,
    NONCE_RELEASE,
    REGISTRY_READ,
    REGISTRY_RENUMBER,
    TRUST_LIST_OFFER,
)

WAIT_MS = 500  # how long a registry write waits for its replicas before it is not acknowledged
TOKEN_BYTES = 16


def stamp_from(version: bytes | str | None, token: bytes | None) -> RegistryStamp:
    """The stamp of the two raw values of ``REGISTRY_VERSION`` and ``REGISTRY_TOKEN``."""
    return RegistryStamp(int(version or 0), bytes(token or b""))


@dataclass(frozen=True, slots=True)
class NonceUse:
    """One attempt at applying the message of ``(iss, nonce)``: the nonce is used up for
    ``ttl`` seconds, and ``attempt`` (random, one per request) tells this attempt's own retried
    calls from any other use of the nonce."""

    iss: IssuerCode
    nonce: bytes
    ttl: int
    attempt: bytes

    @classmethod
    def new(cls, iss: IssuerCode, nonce: bytes, ttl: int) -> NonceUse:
        return cls(iss, nonce, ttl, secrets.token_bytes(ATTEMPT_BYTES))

    @property
    def key(self) -> str:
        return keys.nonce(self.iss, self.nonce)


@dataclass(frozen=True, slots=True)
class HeldList:
    """The signed trust list the workers share, and the registry stamp it was signed for."""

    stamp: RegistryStamp
    iat: int
    envelope: bytes


class RegistryStore:
    """``min_replicas`` > 0 (a cluster): a key write is acknowledged only once that many
    replicas hold it (WAIT), so a failover cannot bring a revoked key back (docs/scale.md)."""

    def __init__(
        self, redis: RedisClient, *, min_replicas: int = 0, announcer: Announcer | None = None
    ) -> None:
        self._redis = redis
        self._min_replicas = min_replicas
        self._announcer = announcer  # leases: see invalidation.py
        self._add = redis.register_script(KEY_ADD)
        self._revoke = redis.register_script(KEY_REVOKE)
        self._offer = redis.register_script(TRUST_LIST_OFFER)
        self._renumber = redis.register_script(REGISTRY_RENUMBER)
        self._claim = redis.register_script(NONCE_CLAIM)
        self._release = redis.register_script(NONCE_RELEASE)
        self._read = redis.register_script(REGISTRY_READ)

    async def load(self, issuers: Iterable[IssuerCode]) -> TrustSnapshot:
        """One consistent read of the whole registry (one script: ``scripts.REGISTRY_READ``)."""
        async with redis_errors("reading the trust registry"):
            version, token, flat_rows, flat_revoked = await self._read(keys=[
                keys.REGISTRY_VERSION, keys.REGISTRY_TOKEN, keys.REGISTRY_KEYS,
                keys.REGISTRY_REVOKED,
            ])  # fmt: skip
        rows = dict(zip(flat_rows[::2], flat_rows[1::2], strict=True))
        revoked = set(flat_revoked[::2])
        records = []
        for kid, packed in rows.items():
            row = msgpack.unpackb(packed)
            records.append(
                KeyRecord(
                    iss=IssuerCode(row["iss"]),
                    key=load_public_key(row["alg"], row["spki"]),
                    nbf=row["nbf"],
                    naf=row["naf"],
                    revoked=kid in revoked,
                )
            )
            if records[-1].kid != kid:
                # a corrupt store
                raise ValueError(f"registry row {encode_b64url(kid)} holds another key")
        stamp = stamp_from(version, token)
        return TrustSnapshot.build(stamp.version, issuers, records, stamp.token)

    async def stamp(self) -> RegistryStamp:
        async with redis_errors("reading the registry version"):
            values: list[Any] = await self._redis.mget(_STAMP)
        return stamp_from(*values)

    async def kid_exists(self, kid: KeyId) -> bool:
        async with redis_errors("checking a kid"):
            return bool(await self._redis.hexists(keys.REGISTRY_KEYS, kid))

    async def add(self, record: KeyRecord, *, at: int, floor: int, use: NonceUse) -> int:
        """Register a key; → the new registry version, above ``floor``. Durable before it
        returns."""
        row = {
            "iss": record.iss,
            "alg": record.key.alg.value,
            "spki": record.key.spki,
            "nbf": record.nbf,
            "naf": record.naf,
            "at": at,
        }
        packed = msgpack.packb(row, use_bin_type=True)
        async with redis_errors("registering a key"):
            version = await self._write(
                self._add,
                [_record(use), keys.REGISTRY_KEYS, keys.REGISTRY_OWNERS, *_STAMP],
                [use.attempt, use.ttl, record.kid, packed, record.iss, *_new(floor)],
            )
        if version == -1:
            raise KidCollision(f"kid {encode_b64url(record.kid)} is registered already")
        return int(_unless_replay(version))

    async def revoke(self, kid: KeyId, *, at: int, floor: int, use: NonceUse) -> int | None:
        """Revoke for good one of ``use.iss``'s keys; → the new version (above ``floor``), or
        None when it was revoked already."""
        async with redis_errors("revoking a key"):
            result = await self._write(
                self._revoke,
                [_record(use), keys.REGISTRY_OWNERS, keys.REGISTRY_REVOKED, *_STAMP],
                [use.attempt, use.ttl, kid, use.iss, at, *_new(floor)],
            )
        if result == -1:
            raise NotFound(f"issuer {use.iss} holds no key {encode_b64url(kid)}")
        return None if _unless_replay(result) == 0 else int(result)

    async def renumber(self, seen: RegistryStamp, floor: int) -> bool:
        """Move a store that is behind ``floor`` past it with a new token, unless it moved
        since it read ``seen``; → whether it was renumbered."""
        async with redis_errors("renumbering the registry"):
            result = await self._write(
                self._renumber,
                list(_STAMP),
                [seen.version, seen.token, floor, secrets.token_bytes(TOKEN_BYTES)],
            )
        return bool(result)

    async def _write(self, script: Any, keys_: list[str], args: list[Any]) -> Any:
        """Run a registry script; with replicas required, WAIT for them on the same connection
        (one pipeline to the node that holds ``{reg}``) before the write counts."""
        if self._announcer is not None:
            return await self._announcer.write(script, keys_, args, registry_entry())
        if self._min_replicas == 0:
            return await script(keys=keys_, args=args)
        try:
            return await self._write_and_wait(script, keys_, args)
        except NoScriptError:  # a node new since start (a failover) has not seen the script
            await self._redis.script_load(script.script)
            return await self._write_and_wait(script, keys_, args)

    async def _write_and_wait(self, script: Any, keys_: list[str], args: list[Any]) -> Any:
        pipe = self._redis.pipeline(transaction=False)
        pipe.execute_command("EVALSHA", script.sha, len(keys_), *keys_, *args)
        if isinstance(self._redis, RedisCluster):
            node = self._redis.get_node_from_key(keys_[0])
            pipe.execute_command("WAIT", self._min_replicas, WAIT_MS, target_nodes=node)
        else:
            pipe.execute_command("WAIT", self._min_replicas, WAIT_MS)
        result, replicas = await pipe.execute()
        if int(replicas) < self._min_replicas:
            raise Unavailable(
                f"the registry write reached {replicas} of {self._min_replicas} replicas in time; "
                "it is not acknowledged: send the message again"
            )
        return result

    async def claim_nonce(self, use: NonceUse) -> bool:
        """Use up ``(iss, nonce)`` for this attempt; False when another used it already."""
        async with redis_errors("recording a nonce"):
            return bool(await self._claim(keys=[use.key], args=[use.attempt, use.ttl]))

    async def release_nonce(self, use: NonceUse) -> None:
        """A rejected message does not use up its nonce (SPEC §4): free this attempt's claim."""
        async with redis_errors("releasing a nonce"):
            await self._release(keys=[use.key], args=[use.attempt])

    async def trust_list(self) -> HeldList | None:
        async with redis_errors("reading the trust list"):
            fields: list[Any] = await self._redis.hmget(
                keys.TRUST_LIST, ["version", "token", "iat", "envelope"]
            )
        version, token, iat, envelope = fields
        if envelope is None:
            return None
        return HeldList(stamp_from(version, token), int(iat), bytes(envelope))

    async def offer_trust_list(self, stamp: RegistryStamp, iat: int, envelope: bytes) -> None:
        """Store a signed list unless one as new or newer of the same registry is there: all
        workers share one copy."""
        async with redis_errors("storing the trust list"):
            await self._offer(
                keys=[keys.TRUST_LIST], args=[stamp.version, stamp.token, iat, envelope]
            )


_STAMP = (keys.REGISTRY_VERSION, keys.REGISTRY_TOKEN)


REPLAYED = "this nonce was used by an accepted message"


def _record(use: NonceUse) -> str:
    return keys.registry_record(use.iss, use.nonce)


def _unless_replay(result: Any) -> Any:
    """A write script's answer, unless it found the message's record held by another attempt."""
    if result == -2:
        raise Replay(REPLAYED)
    return result


def _new(floor: int) -> tuple[bytes, int]:
    """A write's new token and the version it must rise above."""
    return secrets.token_bytes(TOKEN_BYTES), floor
