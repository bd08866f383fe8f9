"""Factories for tests: a small world of issuers and clients, codes and management messages.

Built on the same public pieces a province would use (``encode_envelope``, ``sign``), with
every field overridable, so a test names only what it is about.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import msgpack
import tomli_w

from gateway.config import ClientConfig, IssuerConfig, Settings, load_upload_key
from gateway.core.crypto import PrivateKey, generate_private_key, sign, spki_of
from gateway.core.model import Alg, Domain, IssuerCode
from gateway.core.wire import encode_envelope

NOW = 1_600_000_000  # the tests' fixed clock: 2020-09-13, within the national platform's years
GD, BJ, HB = IssuerCode("440000"), IssuerCode("110000"), IssuerCode("420000")
VERIFY_TOKEN = "t-verify-" + "a" * 32
TRUST_TOKEN = "t-trust-" + "b" * 32
NOSCOPE_TOKEN = "t-none-" + "c" * 32
SLOW_TOKEN = "t-slow-" + "d" * 32


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)  # msgpack has no type hints
    return packed


def envelope(
    domain: Domain,
    key: PrivateKey,
    payload: bytes,
    *,
    alg: Alg | None = None,
    kid: bytes | None = None,
) -> bytes:
    return encode_envelope(
        domain, alg or key.public.alg, kid or key.public.kid, payload, lambda m: sign(key, m)
    )


def claims(
    iss: str = GD,
    *,
    iat: int = NOW,
    exp: int | None = None,
    col: int = 0,
    sv: int = 1,
    sub: bytes | None = None,
    cid: bytes | None = None,
    nm: str | None = "张*",
    **extra: Any,
) -> dict[int, Any]:
    out: dict[int, Any] = {
        1: iss,
        2: cid or os.urandom(16),
        4: exp if exp is not None else iat + 300,
        6: iat,
        7: col,
        8: sv,
        9: sub or hashlib.sha256(b"subject").digest()[:16],
    }
    if nm is not None:
        out[10] = nm
    out.update({int(k.removeprefix("k")): v for k, v in extra.items()})
    return out


@dataclass
class Issuer:
    iss: IssuerCode
    upload: PrivateKey
    code_key: PrivateKey
    seq: int = 0


@dataclass
class World:
    issuers: dict[str, Issuer] = field(default_factory=dict)

    @classmethod
    def make(cls) -> World:
        world = cls()
        for iss, alg in ((GD, Alg.ED25519), (BJ, Alg.ES256), (HB, Alg.ED25519)):
            world.issuers[iss] = Issuer(iss, generate_private_key(alg), generate_private_key(alg))
        return world

    def settings(self, **overrides: Any) -> Settings:
        issuers = tuple(
            IssuerConfig(i.iss, i.iss, (load_upload_key(b64(spki_of(i.upload)), "test"),))
            for i in self.issuers.values()
        )
        clients = (
            ClientConfig("terminal", _digest(VERIFY_TOKEN), frozenset({"verify"}), 100_000.0),
            ClientConfig("mirror", _digest(TRUST_TOKEN), frozenset({"trustlist"}), 1000.0),
            ClientConfig("noscope", _digest(NOSCOPE_TOKEN), frozenset(), 1000.0),
            ClientConfig("slow", _digest(SLOW_TOKEN), frozenset({"verify"}), 2.0),
        )
        return Settings(issuers=issuers, clients=clients, **overrides)

    def code(self, iss: str = GD, *, key: PrivateKey | None = None, **kw: Any) -> bytes:
        signer = key or self.issuers[iss].code_key
        return envelope(Domain.CODE, signer, pack(claims(iss, **kw)))

    def message(
        self, iss: str, typ: str, *, now: int = NOW, upload: PrivateKey | None = None, **fields: Any
    ) -> bytes:
        payload = {"typ": typ, "iss": iss, "iat": now, "nonce": os.urandom(16), **fields}
        return envelope(Domain.ADMIN, upload or self.issuers[iss].upload, pack(payload))

    def key_add(
        self,
        iss: str,
        key: PrivateKey | None = None,
        *,
        nbf: int = NOW - 3600,
        naf: int = NOW + 86_400 * 30,
        **kw: Any,
    ) -> bytes:
        key = key or self.issuers[iss].code_key
        return self.message(
            iss, "key.add", alg=key.public.alg.value, spki=spki_of(key), nbf=nbf, naf=naf, **kw
        )

    def status(
        self, iss: str, events: list[list[Any]], *, seq: int | None = None, **kw: Any
    ) -> bytes:
        issuer = self.issuers[iss]
        if seq is None:
            issuer.seq += 1
            seq = issuer.seq
        return self.message(iss, "status", seq=seq, events=events, **kw)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer(token: str = VERIFY_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


MSGPACK = {"Content-Type": "application/msgpack"}


def config_toml(
    world: World, *, listen: str, redis_url: str, trust_key: str, **gateway: str
) -> str:
    """The operator's TOML for this world (SPEC §8), as ``hcgw serve`` reads it."""
    settings = world.settings()
    return tomli_w.dumps(
        {
            "gateway": {
                "listen": listen,
                "redis_url": redis_url,
                "trust_key": trust_key,
                **gateway,
            },
            "issuer": [
                {
                    "iss": issuer.iss,
                    "name": f"issuer {issuer.iss}",
                    "upload_keys": [b64(spki_of(issuer.upload))],
                }
                for issuer in world.issuers.values()
            ],
            "client": [
                {
                    "id": client.id,
                    "token_sha256": client.token_sha256.hex(),
                    "scopes": sorted(client.scopes),
                    "rate": client.rate,
                }
                for client in settings.clients
            ],
        }
    )
