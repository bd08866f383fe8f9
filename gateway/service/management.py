"""Management messages (SPEC §4), checked in the SPEC's order and applied atomically.

Order: enrolled path issuer (404), envelope (400), upload key and signature (403), payload and
``typ`` (400), issuer scope (403), timestamp (400), nonce (409), then the message's own checks.
A key message's nonce is claimed before the message's own checks and released when they refuse
it; a status message's nonce is claimed by the script that applies it. Either way a rejected
message uses up nothing, and each request is one attempt (``NonceUse``): the Redis client's retry
of a call whose reply was lost gets that call's answer, not a replay of its own making.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.core.admin import (
    KeyAdd,
    KeyRevoke,
    Message,
    StatusUpdate,
    UploadKey,
    check_scope_and_time,
    check_upload_signature,
    decode_admin_envelope,
    decode_message,
    nonce_ttl,
)
from gateway.core.crypto import key_id, load_public_key
from gateway.core.model import IssuerCode, KeyId
from gateway.core.trust import KeyRecord
from gateway.core.wire import encode_b64url
from gateway.errors import BadRequest, HcgwError, KidCollision, NotFound, Replay
from gateway.metrics import Metrics
from gateway.service.trust import TrustKeeper
from gateway.store.registry import REPLAYED, NonceUse, RegistryStore
from gateway.store.status import StatusStore

audit = logging.getLogger("hcgw.audit")
log = logging.getLogger("hcgw")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, object]


class ManagementService:
    def __init__(
        self,
        registry: RegistryStore,
        statuses: StatusStore,
        trust: TrustKeeper,
        upload_keys: Mapping[KeyId, UploadKey],
        issuers: frozenset[IssuerCode],
        metrics: Metrics,
        clock: Callable[[], float],
    ) -> None:
        self._registry = registry
        self._statuses = statuses
        self._trust = trust
        self._upload_keys = upload_keys
        self._issuers = issuers
        self._metrics = metrics
        self._clock = clock

    async def handle(self, path_iss: str, typ: str, body: bytes) -> Answer:
        now = int(self._clock())
        if path_iss not in self._issuers:
            raise NotFound(f"issuer {path_iss!r} is not enrolled")
        message: Message | None = None
        try:
            envelope = decode_admin_envelope(body)
            upload = check_upload_signature(envelope, self._upload_keys)
            message = decode_message(envelope.payload, typ)
            check_scope_and_time(message, path_iss, upload, now)
            use = NonceUse.new(message.iss, message.nonce, nonce_ttl(message, now))
            if isinstance(message, StatusUpdate):
                answer = await self._status(message, now, use)
            else:
                assert isinstance(message, KeyAdd | KeyRevoke)
                answer = await self._key_message(message, now, use)
        except HcgwError as exc:
            self._audit(path_iss, typ, exc.error, message, body)
            raise
        self._audit(path_iss, typ, "ok", message, body, answer.body)
        return answer

    async def mark(self, iss: str) -> int:
        if iss not in self._issuers:
            raise NotFound(f"issuer {iss!r} is not enrolled")
        return await self._statuses.mark(IssuerCode(iss))

    async def _key_message(self, message: KeyAdd | KeyRevoke, now: int, use: NonceUse) -> Answer:
        if not await self._registry.claim_nonce(use):
            raise Replay(REPLAYED)
        try:
            if isinstance(message, KeyAdd):
                answer = await self._add(message, now, use)
            else:
                await self._registry.revoke(message.kid, at=now, floor=self._trust.floor, use=use)
                answer = Answer(200, {"kid": encode_b64url(message.kid), "revoked": True})
        except HcgwError:
            await self._registry.release_nonce(use)
            raise
        await self._registry_moved()
        return answer

    async def _add(self, message: KeyAdd, now: int, use: NonceUse) -> Answer:
        kid = key_id(message.spki)
        if await self._registry.kid_exists(kid):
            raise KidCollision(f"kid {encode_b64url(kid)} is registered already")
        key = load_public_key(message.alg, message.spki)  # 422 invalid_key / weak_key
        if message.naf <= message.nbf:
            raise BadRequest("naf must be after nbf")
        record = KeyRecord(iss=message.iss, key=key, nbf=message.nbf, naf=message.naf)
        await self._registry.add(record, at=now, floor=self._trust.floor, use=use)
        return Answer(201, {"kid": encode_b64url(kid)})

    async def _status(self, message: StatusUpdate, now: int, use: NonceUse) -> Answer:
        applied = await self._statuses.apply(message.seq, message.events, use)
        self._metrics.count_status(message.iss, applied, (e.at for e in message.events), now)
        return Answer(200, {"applied": applied, "mark": message.seq})

    async def _registry_moved(self) -> None:
        """Refresh this worker's snapshot and the shared signed list now, not at first use.

        Best effort: the write is durable and acknowledged whatever happens here, and every
        worker reloads anyway when it sees the registry stamp move.
        """
        try:
            await self._trust.reload()
            await self._trust.signed_list()
        except HcgwError as exc:
            log.warning("registry refresh after a write failed (%s); it reloads on next use", exc)

    def _audit(
        self,
        path_iss: str,
        typ: str,
        outcome: str,
        message: Message | None,
        body: bytes,
        answer: Mapping[str, object] | None = None,
    ) -> None:
        # No personal data and no key material: the kid, counts and a hash of the request.
        record: dict[str, object] = {
            "event": "management",
            "iss": self._metrics.issuer_label(path_iss),
            "action": typ,
            "outcome": outcome,
            "request_sha256": hashlib.sha256(body).hexdigest(),
        }
        if isinstance(message, KeyAdd):
            record["kid"] = encode_b64url(key_id(message.spki))
        elif isinstance(message, KeyRevoke):
            record["kid"] = encode_b64url(message.kid)
        elif isinstance(message, StatusUpdate):
            record |= {"seq": message.seq, "events": len(message.events)}
        if answer is not None and "applied" in answer:
            record["applied"] = answer["applied"]
        audit.info(json.dumps(record, ensure_ascii=False))
        self._metrics.events.record(record, self._clock())
