"""The trust registry in Redis: code-signing keys, revocations, their version, nonces.

Redis (with ``appendfsync always``, docs/durability.md) is the registry's durable home; each
worker holds an immutable :class:`TrustSnapshot` built from it and rebuilds it whenever the
version it reads beside every lookup has moved.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from gateway.core.crypto import load_public_key
from gateway.core.model import IssuerCode, KeyId
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.errors import KidCollision, NotFound, Unavailable
from gateway.store import keys
from gateway.store.connection import RedisClient
from gateway.store.failures import redis_errors
from gateway.store.scripts import KEY_ADD, KEY_REVOKE, TRUST_LIST_OFFER

WAIT_MS = 500  # how long a registry write waits for its replicas before it is not acknowledged


class RegistryStore:
    """``min_replicas`` > 0 (a cluster): a key write is acknowledged only once that many
    replicas hold it (WAIT), so a failover cannot bring a revoked key back (docs/scale.md)."""

    def __init__(self, redis: RedisClient, *, min_replicas: int = 0) -> None:
        self._redis = redis
        self._min_replicas = min_replicas
        self._add = redis.register_script(KEY_ADD)
        self._revoke = redis.register_script(KEY_REVOKE)
        self._offer = redis.register_script(TRUST_LIST_OFFER)

    async def load(self, issuers: Iterable[IssuerCode]) -> TrustSnapshot:
        """One consistent read of the whole registry (a MULTI of three reads)."""
        async with redis_errors("reading the trust registry"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.get(keys.REGISTRY_VERSION)
            pipe.hgetall(keys.REGISTRY_KEYS)
            pipe.hgetall(keys.REGISTRY_REVOKED)
            version, rows, revoked = await pipe.execute()
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
                raise ValueError(f"registry row {kid.hex()} holds another key")  # corrupt store
        return TrustSnapshot.build(int(version or 0), issuers, records)

    async def version(self) -> int:
        async with redis_errors("reading the registry version"):
            return int(await self._redis.get(keys.REGISTRY_VERSION) or 0)

    async def kid_exists(self, kid: KeyId) -> bool:
        async with redis_errors("checking a kid"):
            return bool(await self._redis.hexists(keys.REGISTRY_KEYS, kid))

    async def add(self, record: KeyRecord, *, at: int) -> int:
        """Register a key; → the new registry version. Durable before it returns."""
        row = {
            "iss": record.iss,
            "alg": record.key.alg.value,
            "spki": record.key.spki,
            "nbf": record.nbf,
            "naf": record.naf,
            "at": at,
        }
        async with redis_errors("registering a key"):
            version = await self._write(
                self._add,
                [keys.REGISTRY_KEYS, keys.REGISTRY_OWNERS, keys.REGISTRY_VERSION],
                [record.kid, msgpack.packb(row, use_bin_type=True), record.iss],
            )
        if version == -1:
            raise KidCollision(f"kid {record.kid.hex()} is registered already")
        return int(version)

    async def revoke(self, iss: IssuerCode, kid: KeyId, *, at: int) -> int | None:
        """Revoke for good; → the new version, or None when it was revoked already."""
        async with redis_errors("revoking a key"):
            result = await self._write(
                self._revoke,
                [keys.REGISTRY_OWNERS, keys.REGISTRY_REVOKED, keys.REGISTRY_VERSION],
                [kid, iss, at],
            )
        if result == -1:
            raise NotFound(f"issuer {iss} holds no key {kid.hex()}")
        return None if result == 0 else int(result)

    async def _write(self, script: Any, keys_: list[str], args: list[Any]) -> Any:
        """Run a registry script; with replicas required, WAIT for them on the same connection
        (one pipeline to the node that holds ``{reg}``) before the write counts."""
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

    async def claim_nonce(self, iss: IssuerCode, nonce: bytes, ttl: int) -> bool:
        """Use up ``(iss, nonce)`` for ``ttl`` seconds; False when it was used already."""
        async with redis_errors("recording a nonce"):
            return bool(await self._redis.set(keys.nonce(iss, nonce), b"1", nx=True, ex=ttl))

    async def release_nonce(self, iss: IssuerCode, nonce: bytes) -> None:
        """A rejected message does not use up its nonce (SPEC §4)."""
        async with redis_errors("releasing a nonce"):
            await self._redis.delete(keys.nonce(iss, nonce))

    async def trust_list(self) -> tuple[int, int, bytes] | None:
        async with redis_errors("reading the trust list"):
            fields: list[Any] = await self._redis.hmget(
                keys.TRUST_LIST, ["version", "iat", "envelope"]
            )
        version, iat, envelope = fields
        if envelope is None:
            return None
        return int(version), int(iat), bytes(envelope)

    async def offer_trust_list(self, version: int, iat: int, envelope: bytes) -> None:
        """Store a signed list unless one as new or newer is there: all workers share one copy."""
        async with redis_errors("storing the trust list"):
            await self._offer(keys=[keys.TRUST_LIST], args=[version, iat, envelope])
