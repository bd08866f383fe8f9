"""The trust snapshot: which issuers are enrolled and which code-signing keys they hold.

A snapshot is immutable and built whole; the hub swaps one reference when the registry moves.
An empty snapshot accepts nothing (fails closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway.core.crypto import PublicKey
from gateway.core.model import IssuerCode, KeyId


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A registered code-signing key. ``nbf``/``naf`` bound the ``iat`` of codes it may sign."""

    iss: IssuerCode
    key: PublicKey
    nbf: int
    naf: int
    revoked: bool = False

    @property
    def kid(self) -> KeyId:
        return self.key.kid


@dataclass(frozen=True, slots=True)
class TrustSnapshot:
    version: int
    issuers: frozenset[IssuerCode]
    keys: Mapping[KeyId, KeyRecord] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def build(
        cls, version: int, issuers: Iterable[IssuerCode], keys: Iterable[KeyRecord]
    ) -> TrustSnapshot:
        return cls(version, frozenset(issuers), MappingProxyType({k.kid: k for k in keys}))

    def sorted_keys(self) -> list[KeyRecord]:
        return sorted(self.keys.values(), key=lambda k: (k.iss, k.kid))


EMPTY = TrustSnapshot(version=0, issuers=frozenset())
