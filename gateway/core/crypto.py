"""The signature layer of HCM/1 (SPEC §2, §4 ``key.add``): key ids, loading issuer keys, verifying.

It owns the rules for which public keys the registry may hold (canonical DER SPKI, the key type
matching ``alg``, no small-order Ed25519 points) and the single primitive every verification goes
through, ``verify_signature``, which answers a bool for any bytes and never raises. Signing and
private keys are here only for the simulated provinces and the tests. Pure functions: no I/O.

Three libraries, one rule set: ``cryptography`` (OpenSSL) loads and checks every Ed25519 and
P-256 key and verifies ES256; libsodium (PyNaCl) verifies Ed25519 signatures, 1.6–1.9× faster
than OpenSSL here (BENCHMARKS.md). Both agree on every Wycheproof and RFC 8032 vector
(tests/test_crypto_vectors.py runs them through ``verify_signature``), and small-order keys never
reach either: the registry refuses them at load. ``cryptography`` cannot load sm2p256v1, so SM2
keys and signatures go to Tongsuo (``tongsuopy``, docs/decisions.md): their SPKI's bytes are
checked here against the one canonical shape, the point on the curve by Tongsuo, and ``r``,
``s`` against the group order before Tongsuo sees a signature. Tongsuo always hashes with the
default user ID of GM/T 0009, which SPEC §2 fixes; shared/vectors/sm2 decide its edge cases.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
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
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError
from tongsuopy.crypto import hashes as sm_hashes
from tongsuopy.crypto import serialization as sm_serialization
from tongsuopy.crypto.asymciphers import ec as sm_ec
from tongsuopy.crypto.exceptions import InvalidSignature as SmInvalidSignature

from gateway.core.model import Alg, KeyId
from gateway.errors import InvalidKey, WeakKey

SIGNATURE_LEN = 64

# RFC 8410: every Ed25519 SPKI is this fixed prefix and the 32-byte key.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_ED25519_RAW = slice(len(_ED25519_SPKI_PREFIX), None)
_ED25519_P = 2**255 - 19
# libsodium's has_small_order blocklist, as y values (the sign bit of x does not change the order).
# With y >= p also refused, this covers all 14 encodings of shared/vectors/ed25519-small-order.
_ORDER8_Y = tuple(
    int.from_bytes(bytes.fromhex(h), "little")
    for h in (
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    )
)
_SMALL_ORDER_Y = frozenset({0, 1, _ED25519_P - 1, *_ORDER8_Y})
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ES256 = ec.ECDSA(SHA256())  # built once: about 2 % of an ES256 verification (BENCHMARKS.md)

# The canonical SM2 SPKI (SPEC §2): id-ecPublicKey, the named curve 1.2.156.10197.1.301, and the
# uncompressed point, 91 bytes; anything else (compressed, explicit parameters) is refused.
_SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
_SM2_SPKI_LEN = len(_SM2_SPKI_PREFIX) + 64
_SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_SM2 = sm_ec.ECDSA(sm_hashes.SM3())  # Tongsuo's SM2 signature: Z_A (default ID), then SM3

# tongsuopy has no type hints: its classes are Any to mypy, hence the explicit aliases.
_PublicImpl: TypeAlias = Ed25519PublicKey | ec.EllipticCurvePublicKey | sm_ec.EllipticCurvePublicKey
_PrivateImpl: TypeAlias = (
    Ed25519PrivateKey | ec.EllipticCurvePrivateKey | sm_ec.EllipticCurvePrivateKey
)


def key_id(spki: bytes) -> KeyId:
    return KeyId(hashlib.sha256(spki).digest()[:8])


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A registered key: ``spki`` is canonical, so ``kid`` is the key's one and only id."""

    alg: Alg
    spki: bytes
    kid: KeyId
    impl: _PublicImpl = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PrivateKey:
    alg: Alg
    impl: _PrivateImpl = field(repr=False, compare=False)
    public: PublicKey


def _alg(alg: Alg | str) -> Alg:
    try:
        return Alg(alg)
    except ValueError:
        raise InvalidKey(f"unknown alg {alg!r}") from None


def _refuse_weak_ed25519(raw: bytes) -> None:
    # cryptography (OpenSSL) loads all of these, and small-order keys let anyone forge
    # signatures, so the registry refuses them itself, before any library sees them.
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= _ED25519_P:
        raise WeakKey("Ed25519 key is a non-canonical encoding (y >= p)")
    if y in _SMALL_ORDER_Y:
        raise WeakKey("Ed25519 key is a point of small order")


def _load_sm2(spki: bytes) -> PublicKey:
    if len(spki) != _SM2_SPKI_LEN or not spki.startswith(_SM2_SPKI_PREFIX):
        raise InvalidKey("spki is not a canonical SM2 key (sm2p256v1, uncompressed point)")
    point = spki[len(_SM2_SPKI_PREFIX) :]
    x, y = int.from_bytes(point[:32], "big"), int.from_bytes(point[32:], "big")
    if x >= _SM2_P or y >= _SM2_P:
        raise InvalidKey("spki holds a coordinate outside the field")
    try:  # Tongsuo checks the point is on sm2p256v1 and not at infinity
        impl = sm_ec.EllipticCurvePublicNumbers(x, y, sm_ec.SM2()).public_key()
    except ValueError as exc:
        raise InvalidKey("spki's point is not on sm2p256v1") from exc
    return PublicKey(alg=Alg.SM2, spki=spki, kid=key_id(spki), impl=impl)


def load_public_key(alg: Alg | str, spki: bytes) -> PublicKey:
    """Load a DER SubjectPublicKeyInfo for ``alg``; raise ``InvalidKey`` or ``WeakKey``."""
    alg = _alg(alg)
    spki = bytes(spki)
    if alg is Alg.SM2:
        return _load_sm2(spki)
    if alg is Alg.ED25519 and len(spki) == 44 and spki.startswith(_ED25519_SPKI_PREFIX):
        _refuse_weak_ed25519(spki[len(_ED25519_SPKI_PREFIX) :])
    try:
        impl = load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm) as exc:  # off-curve points land here too
        raise InvalidKey(f"spki does not load as a public key: {exc}") from exc
    if alg is Alg.ED25519:
        if not isinstance(impl, Ed25519PublicKey):
            raise InvalidKey("spki is not an Ed25519 key")
        key: _PublicImpl = impl
    else:
        if not isinstance(impl, ec.EllipticCurvePublicKey) or not isinstance(
            impl.curve, ec.SECP256R1
        ):
            raise InvalidKey("spki is not a P-256 key")
        key = impl
    # kid hashes the SPKI bytes, so one key must have one encoding: this refuses compressed
    # points, explicit curve parameters (which OpenSSL maps back to P-256) and trailing bytes.
    if key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) != spki:
        raise InvalidKey("spki is not in canonical form")
    return PublicKey(alg=alg, spki=spki, kid=key_id(spki), impl=key)


def verify_signature(key: PublicKey, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (64 bytes, SPEC §2) is ``key``'s over ``message``. Never raises."""
    if len(signature) != SIGNATURE_LEN:
        return False
    if key.alg is Alg.ED25519:
        # libsodium's combined form: signature then message. The key is the canonical SPKI's
        # last 32 bytes (RFC 8410), checked at load; every failure is a CryptoError subclass.
        try:
            crypto_sign_open(signature + message, key.spki[_ED25519_RAW])
        except CryptoError:
            return False
        return True
    impl = key.impl
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if key.alg is Alg.SM2:
        # SPEC §2: r and s outside 1 … n − 1 never verify, checked before any arithmetic.
        if not (0 < r < _SM2_N and 0 < s < _SM2_N) or not isinstance(
            impl, sm_ec.EllipticCurvePublicKey
        ):
            return False
        try:
            impl.verify(encode_dss_signature(r, s), message, _SM2)
        except SmInvalidSignature:
            return False
        return True
    if not isinstance(impl, ec.EllipticCurvePublicKey):  # load_public_key never makes one
        return False
    # OpenSSL refuses these too; checking here keeps the rule visible and library-proof.
    if not (0 < r < _P256_N and 0 < s < _P256_N):
        return False
    try:
        impl.verify(encode_dss_signature(r, s), message, _ES256)
    except InvalidSignature:
        return False
    return True


def _private_key(impl: _PrivateImpl) -> PrivateKey:
    if isinstance(impl, sm_ec.EllipticCurvePrivateKey):
        numbers = impl.public_key().public_numbers()
        point = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
        return PrivateKey(alg=Alg.SM2, impl=impl, public=_load_sm2(_SM2_SPKI_PREFIX + point))
    if isinstance(impl, Ed25519PrivateKey):
        alg = Alg.ED25519
    elif isinstance(impl.curve, ec.SECP256R1):
        alg = Alg.ES256
    else:
        raise InvalidKey(f"private key is on {impl.curve.name}, not P-256")
    spki = impl.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return PrivateKey(alg=alg, impl=impl, public=load_public_key(alg, spki))


def generate_private_key(alg: Alg | str) -> PrivateKey:
    alg = _alg(alg)
    if alg is Alg.ED25519:
        return _private_key(Ed25519PrivateKey.generate())
    if alg is Alg.SM2:
        return _private_key(sm_ec.generate_private_key(sm_ec.SM2()))
    return _private_key(ec.generate_private_key(ec.SECP256R1()))


def private_key_from_seed(seed: bytes) -> PrivateKey:
    """An Ed25519 key from its 32-byte RFC 8032 secret (the known-answer tests use it)."""
    try:
        return _private_key(Ed25519PrivateKey.from_private_bytes(seed))
    except ValueError as exc:
        raise InvalidKey(f"not an Ed25519 seed: {exc}") from exc


def sign(key: PrivateKey, message: bytes) -> bytes:
    if isinstance(key.impl, Ed25519PrivateKey):
        return key.impl.sign(message)
    if isinstance(key.impl, sm_ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.impl.sign(message, _SM2))
    else:
        r, s = decode_dss_signature(key.impl.sign(message, ec.ECDSA(SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def private_key_to_pem(key: PrivateKey) -> bytes:
    if isinstance(key.impl, sm_ec.EllipticCurvePrivateKey):
        return bytes(
            key.impl.private_bytes(
                sm_serialization.Encoding.PEM,
                sm_serialization.PrivateFormat.PKCS8,
                sm_serialization.NoEncryption(),
            )
        )
    return key.impl.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def private_key_from_pem(pem: bytes) -> PrivateKey:
    impl: object
    try:
        impl = load_pem_private_key(pem, password=None)
    except UnsupportedAlgorithm:  # OpenSSL in cryptography knows no sm2p256v1: Tongsuo does
        try:
            impl = sm_serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidKey(f"not an unencrypted PKCS8 private key: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise InvalidKey(f"not an unencrypted PKCS8 private key: {exc}") from exc
    if isinstance(impl, sm_ec.EllipticCurvePrivateKey) and isinstance(impl.curve, sm_ec.SM2):
        return _private_key(impl)
    if not isinstance(impl, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidKey("private key is neither Ed25519 nor EC")
    return _private_key(impl)


def spki_of(key: PrivateKey) -> bytes:
    return key.public.spki
