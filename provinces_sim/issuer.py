"""A province as an issuer: its upload key, code-signing keys, pseudonym secret and residents.

Raw ID numbers enter only through :meth:`Issuer.populate`, which draws people from the civil
registry and keeps, for each, the pseudonym ``HMAC-SHA256(secret, ID type ‖ ID number)[:16]``
(SPEC §3 ``sub``), the masked name and the city. The ID number is a local variable there and
is gone when the resident is made. The secret is never written anywhere but the keystore.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import random
from dataclasses import dataclass, field
from typing import Any

from provinces_sim import people
from provinces_sim.census import Province
from provinces_sim.codes import CodeTruth, IssuedCode, Kind
from provinces_sim.crypto import SigningKey
from provinces_sim.wire import ADMIN, CODE, Claims, message_payload, seal


class KeyState(enum.StrEnum):
    PLANNED = "planned"  # made, not yet acknowledged by the hub
    ACTIVE = "active"  # registered; signs new codes
    RETIRED = "retired"  # registered; signs nothing new, its codes run out (rotation overlap)
    REVOKED = "revoked"


@dataclass(slots=True, eq=False)
class CodeKey:
    key: SigningKey
    nbf: int
    naf: int
    state: KeyState


@dataclass(slots=True, eq=False)
class Resident:
    """A person as their issuer knows them: no ID number, only the pseudonym ``sub``."""

    iss: str
    sub: bytes
    nm: str
    city: str
    colour: int = 0  # 0 green, 1 yellow, 2 red
    sv: int = 0  # status version: +1 with every change
    since: int = 0  # tick of the last change
    phone: IssuedCode | None = None  # the code the app shows now
    phone_tick: int = -1
    screenshot: IssuedCode | None = None  # an earlier code kept by its holder
    trail: list[str] = field(default_factory=list)  # provinces visited (for contact tracing)


class Issuer:
    def __init__(
        self,
        province: Province,
        upload: SigningKey,
        secret: bytes,
        code_keys: list[CodeKey],
    ) -> None:
        if len(secret) < 32:
            raise ValueError("a pseudonym secret has at least 32 bytes")
        self.province = province
        self.upload = upload
        self._secret = secret
        self.code_keys = code_keys
        self.residents: list[Resident] = []

    def __repr__(self) -> str:
        return f"Issuer({self.iss}, {len(self.residents)} residents)"

    @property
    def iss(self) -> str:
        return self.province.iss

    @property
    def alg(self) -> str:
        return self.province.alg

    @property
    def secret(self) -> bytes:
        """For the keystore only."""
        return self._secret

    # -- residents ------------------------------------------------------------------------

    def populate(self, count: int, rng: random.Random, capital_share: float = 0.3) -> None:
        registry = people.draw(rng, self.province.cities(), capital_share)
        for _ in range(count):
            person = next(registry)
            self.residents.append(
                Resident(
                    iss=self.iss,
                    sub=self._pseudonym(person.id_type, person.id_number),
                    nm=people.masked_name(person),
                    city=person.city,
                )
            )

    def _pseudonym(self, id_type: str, id_number: str) -> bytes:
        message = (id_type + id_number).encode("ascii")
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:16]

    # -- keys -----------------------------------------------------------------------------

    @property
    def active_key(self) -> CodeKey:
        for code_key in reversed(self.code_keys):
            if code_key.state is KeyState.ACTIVE:
                return code_key
        raise LookupError(f"issuer {self.iss} has no active code-signing key")

    def new_key(self, now: int, *, lifetime_days: int = 30) -> CodeKey:
        """A key for the next rotation: usable for codes issued from an hour ago."""
        code_key = CodeKey(
            SigningKey.generate(self.alg),
            now - 3600,
            now + lifetime_days * 86_400,
            KeyState.PLANNED,
        )
        self.code_keys.append(code_key)
        return code_key

    # -- codes and messages ---------------------------------------------------------------

    def issue(
        self,
        resident: Resident,
        now: int,
        lifetime: int,
        *,
        kind: Kind = Kind.CURRENT,
        key: SigningKey | None = None,
        iat: int | None = None,
        col: int | None = None,
        sv: int | None = None,
    ) -> IssuedCode:
        """A code for ``resident``, from their status unless ``col``/``sv`` say otherwise."""
        signer = key or self.active_key.key
        iat = now if iat is None else iat
        claims = Claims(
            iss=self.iss,
            cid=os.urandom(16),
            exp=iat + lifetime,
            iat=iat,
            col=resident.colour if col is None else col,
            sv=resident.sv if sv is None else sv,
            sub=resident.sub,
            nm=resident.nm,
        )
        envelope = seal(CODE, signer, claims.payload())
        return IssuedCode(envelope, CodeTruth(kind, signer.alg, signer.kid, signer.kid, claims))

    def message(self, typ: str, now: int, **fields: Any) -> bytes:
        """A management message signed with the upload key, with a fresh nonce."""
        payload = message_payload(typ, self.iss, now, os.urandom(16), **fields)
        return seal(ADMIN, self.upload, payload)
