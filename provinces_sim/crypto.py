"""Signing keys of the simulated issuers (SPEC §2): generation, PEM, SPKI, kid, signatures.

Written from SPEC.md with the libraries directly: pyca/cryptography for Ed25519 (the library's
own 64 bytes) and ES256, Tongsuo (``tongsuopy``) for SM2 with SM3 over sm2p256v1, which
cryptography cannot load. ES256 and SM2 signatures are ``r || s``, 32 bytes each, big-endian
(IEEE P1363), converted from the DER the libraries produce. An SM2 key's SPKI is built here from
its point, as SPEC §2 spells it (a fixed 27-byte prefix ending in ``04``, then X and Y), not
taken from the library, which re-encodes a key in whatever form it arrived in. Tongsuo always
puts the default user ID ``1234567812345678`` into Z_A, which is the one SPEC fixes.

``verify`` exists for the hub's trust list, which ``prime`` checks before it trusts what the hub
says it holds, and for the tests; it refuses an ``r`` or ``s`` outside ``1 … n − 1`` itself.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
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
from tongsuopy.crypto import hashes as sm_hashes
from tongsuopy.crypto import serialization as sm_serialization
from tongsuopy.crypto.asymciphers import ec as sm_ec
from tongsuopy.crypto.exceptions import InvalidSignature as SmInvalidSignature

from provinces_sim.census import ED25519, ES256, SM2

ALGS = (ED25519, ES256, SM2)
# tongsuopy has no type hints: its key class is Any to mypy, hence the explicit alias.
_Impl: TypeAlias = Ed25519PrivateKey | ec.EllipticCurvePrivateKey | sm_ec.EllipticCurvePrivateKey

# SPEC §2: the canonical SM2 SPKI is id-ecPublicKey, the named curve 1.2.156.10197.1.301 and the
# uncompressed point: this prefix (``04`` included), then X and Y, 32 bytes each; 91 bytes.
SM2_SPKI_PREFIX = bytes.fromhex("3059301306072A8648CE3D020106082A811CCF5501822D03420004")
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123  # the group order
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _sm2_scheme() -> object:
    return sm_ec.ECDSA(sm_hashes.SM3())  # Tongsuo's SM2 signature: Z_A (default ID), then SM3


def kid_of(spki: bytes) -> bytes:
    """SPEC §2: the first 8 bytes of SHA-256 over the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki).digest()[:8]


def sm2_spki(x: int, y: int) -> bytes:
    """The canonical SPKI of the sm2p256v1 point (x, y)."""
    return SM2_SPKI_PREFIX + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def raw_signature(r: int, s: int) -> bytes:
    """``r || s`` as SPEC §2 carries it: 32 bytes each, big-endian."""
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def split_signature(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


class SigningKey:
    """A private key with its algorithm, canonical SPKI and kid."""

    __slots__ = ("_impl", "alg", "kid", "spki")

    def __init__(self, impl: _Impl) -> None:
        if isinstance(impl, sm_ec.EllipticCurvePrivateKey):
            if not isinstance(impl.curve, sm_ec.SM2):
                raise ValueError(f"a Tongsuo key on {impl.curve.name} is not an SM2 key")
            self.alg = SM2
            numbers = impl.public_key().public_numbers()
            self.spki = sm2_spki(numbers.x, numbers.y)
        else:
            if isinstance(impl, Ed25519PrivateKey):
                self.alg = ED25519
            elif isinstance(impl.curve, ec.SECP256R1):
                self.alg = ES256
            else:
                raise ValueError(f"a {impl.curve.name} key is neither Ed25519, P-256 nor SM2")
            # cryptography writes P-256 with the named curve and an uncompressed point, and
            # Ed25519 per RFC 8410: the canonical forms SPEC §2 hashes for the kid.
            self.spki = impl.public_key().public_bytes(
                Encoding.DER, PublicFormat.SubjectPublicKeyInfo
            )
        self._impl = impl
        self.kid = kid_of(self.spki)

    def __repr__(self) -> str:
        kid = base64.urlsafe_b64encode(self.kid).rstrip(b"=").decode()  # as the hub spells it
        return f"SigningKey({self.alg}, kid={kid})"

    @classmethod
    def generate(cls, alg: str) -> SigningKey:
        if alg == ED25519:
            return cls(Ed25519PrivateKey.generate())
        if alg == ES256:
            return cls(ec.generate_private_key(ec.SECP256R1()))
        if alg == SM2:
            return cls(sm_ec.generate_private_key(sm_ec.SM2()))
        raise ValueError(f"unknown alg {alg!r}: expected one of {ALGS}")

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        impl: object
        try:
            impl = load_pem_private_key(pem, password=None)
        except UnsupportedAlgorithm:  # cryptography knows no sm2p256v1; Tongsuo does
            impl = sm_serialization.load_pem_private_key(pem, password=None)
        if not isinstance(
            impl, Ed25519PrivateKey | ec.EllipticCurvePrivateKey | sm_ec.EllipticCurvePrivateKey
        ):
            raise ValueError("the PEM holds neither an Ed25519, an EC nor an SM2 private key")
        return cls(impl)

    def to_pem(self) -> bytes:
        if isinstance(self._impl, sm_ec.EllipticCurvePrivateKey):
            return bytes(
                self._impl.private_bytes(
                    sm_serialization.Encoding.PEM,
                    sm_serialization.PrivateFormat.PKCS8,
                    sm_serialization.NoEncryption(),
                )
            )
        return self._impl.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())

    def sign(self, message: bytes) -> bytes:
        if isinstance(self._impl, Ed25519PrivateKey):
            return self._impl.sign(message)
        if isinstance(self._impl, sm_ec.EllipticCurvePrivateKey):
            return raw_signature(*decode_dss_signature(self._impl.sign(message, _sm2_scheme())))
        return raw_signature(*decode_dss_signature(self._impl.sign(message, ec.ECDSA(SHA256()))))


def _verify_sm2(spki: bytes, message: bytes, r: int, s: int) -> bool:
    if len(spki) != len(SM2_SPKI_PREFIX) + 64 or not spki.startswith(SM2_SPKI_PREFIX):
        return False
    point = spki[len(SM2_SPKI_PREFIX) :]
    x, y = int.from_bytes(point[:32], "big"), int.from_bytes(point[32:], "big")
    if x >= SM2_P or y >= SM2_P:
        return False
    try:  # Tongsuo refuses a point off sm2p256v1 here
        public = sm_ec.EllipticCurvePublicNumbers(x, y, sm_ec.SM2()).public_key()
        public.verify(encode_dss_signature(r, s), message, _sm2_scheme())
    except (SmInvalidSignature, ValueError):
        return False
    return True


def verify(alg: str, spki: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is valid for ``message`` under the public key ``spki``."""
    if len(signature) != 64:
        return False
    r, s = split_signature(signature)
    if alg == SM2:
        # SPEC §2: r and s outside 1 … n − 1 never verify; checked before Tongsuo sees them.
        return 0 < r < SM2_N and 0 < s < SM2_N and _verify_sm2(spki, message, r, s)
    try:
        public = load_der_public_key(spki)
        if alg == ED25519 and isinstance(public, Ed25519PublicKey):
            public.verify(signature, message)
            return True
        if alg == ES256 and isinstance(public, ec.EllipticCurvePublicKey):
            if not (0 < r < P256_N and 0 < s < P256_N):
                return False
            public.verify(encode_dss_signature(r, s), message, ec.ECDSA(SHA256()))
            return True
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return False
