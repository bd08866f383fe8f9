"""Signing keys of the simulated issuers (SPEC §2): generation, PEM, SPKI, kid, signatures.

Written from SPEC.md with pyca/cryptography directly: Ed25519 signatures are the library's own
64 bytes; ES256 signatures are ``r || s``, 32 bytes each, big-endian (IEEE P1363), converted
from the DER the library produces. ``verify`` exists for the hub's trust list, which ``prime``
checks before it trusts what the hub says it holds.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_public_key,
    load_pem_private_key,
)

from provinces_sim.census import ED25519, ES256

ALGS = (ED25519, ES256)
_Impl = Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def kid_of(spki: bytes) -> bytes:
    """SPEC §2: the first 8 bytes of SHA-256 over the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki).digest()[:8]


class SigningKey:
    """A private key with its algorithm, canonical SPKI and kid."""

    __slots__ = ("_impl", "alg", "kid", "spki")

    def __init__(self, impl: _Impl) -> None:
        if isinstance(impl, Ed25519PrivateKey):
            self.alg = ED25519
        elif isinstance(impl.curve, ec.SECP256R1):
            self.alg = ES256
        else:
            raise ValueError(f"a {impl.curve.name} key is neither Ed25519 nor P-256")
        self._impl = impl
        # cryptography writes P-256 with the named curve and an uncompressed point, and
        # Ed25519 per RFC 8410: the canonical forms SPEC §2 hashes for the kid.
        self.spki = impl.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        self.kid = kid_of(self.spki)

    def __repr__(self) -> str:
        return f"SigningKey({self.alg}, kid={self.kid.hex()})"

    @classmethod
    def generate(cls, alg: str) -> SigningKey:
        if alg == ED25519:
            return cls(Ed25519PrivateKey.generate())
        if alg == ES256:
            return cls(ec.generate_private_key(ec.SECP256R1()))
        raise ValueError(f"unknown alg {alg!r}: expected one of {ALGS}")

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        impl = load_pem_private_key(pem, password=None)
        if not isinstance(impl, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("the PEM holds neither an Ed25519 nor an EC private key")
        return cls(impl)

    def to_pem(self) -> bytes:
        return self._impl.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())

    def sign(self, message: bytes) -> bytes:
        if isinstance(self._impl, Ed25519PrivateKey):
            return self._impl.sign(message)
        r, s = decode_dss_signature(self._impl.sign(message, ec.ECDSA(SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(alg: str, spki: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is valid for ``message`` under the public key ``spki``."""
    if len(signature) != 64:
        return False
    try:
        public = load_der_public_key(spki)
        if alg == ED25519 and isinstance(public, Ed25519PublicKey):
            public.verify(signature, message)
            return True
        if alg == ES256 and isinstance(public, ec.EllipticCurvePublicKey):
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            public.verify(encode_dss_signature(r, s), message, ec.ECDSA(SHA256()))
            return True
    except (InvalidSignature, ValueError):
        return False
    return False
