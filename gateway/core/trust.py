"""The trust snapshot: which issuers are enrolled and which code-signing keys they hold.

A snapshot is immutable and built whole; the hub swaps one reference when the registry moves.
An empty snapshot accepts nothing (fails closed).

A snapshot is identified by its :class:`RegistryStamp`, not by its version alone: a store that
lost its data counts its changes again from 0, so two different registries can both be at
version 7, but they cannot share the random token each change writes.
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
class RegistryStamp:
    """Which registry a snapshot was read from: the count of its changes and the random token
    written with the last of them (``b""``: a store with no change yet). A wiped, replaced or
    restored store cannot repeat a token a worker holds, so equal stamps mean the same registry.
    """

    version: int
    token: bytes = b""


@dataclass(frozen=True, slots=True)
class TrustSnapshot:
    version: int
    issuers: frozenset[IssuerCode]
    keys: Mapping[KeyId, KeyRecord] = field(default_factory=lambda: MappingProxyType({}))
    token: bytes = b""

    @classmethod
    def build(
        cls,
        version: int,
        issuers: Iterable[IssuerCode],
        keys: Iterable[KeyRecord],
        token: bytes = b"",
    ) -> TrustSnapshot:
        return cls(version, frozenset(issuers), MappingProxyType({k.kid: k for k in keys}), token)

    @property
    def stamp(self) -> RegistryStamp:
        return RegistryStamp(self.version, self.token)

    def sorted_keys(self) -> list[KeyRecord]:
        return sorted(self.keys.values(), key=lambda k: (k.iss, k.kid))


EMPTY = TrustSnapshot(version=0, issuers=frozenset())
