"""SM2 with SM3 (SPEC §2) against shared/vectors/sm2: every published vector and every derived
negative, through the production calls ``load_public_key`` and ``verify_signature`` wherever they
can take it (sm2p256v1, the default user ID), and through an independent plain-Python verifier
(tests/sm2_reference.py) for what they cannot: the standard's Fp-256 example curve, precomputed
digests, another user ID, a Z_A left out.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

import sm2_reference as ref
from gateway.core.crypto import (
    generate_private_key,
    key_id,
    load_public_key,
    private_key_from_pem,
    private_key_to_pem,
    sign,
    verify_signature,
)
from gateway.core.model import Alg
from gateway.errors import InvalidKey
from vectors import load_json

DOC = load_json("sm2/sm2-vectors.json")
SM2P256V1 = ref.Curve.from_hex(DOC["curves"]["sm2p256v1"])
SPKI_PREFIX = bytes.fromhex("3059301306072A8648CE3D020106082A811CCF5501822D034200")
SIGN = {v["id"]: v for v in DOC["sign_vectors"]}
ANNEX_A = SIGN["gmt0003.5-annexA-sm2p256v1"]


def raw(r: str, s: str) -> bytes:
    r_, s_ = int(r, 16), int(s, 16)
    if max(r_, s_) >= 2**256:
        return b""  # does not fit 64 bytes: no raw signature can carry it
    return r_.to_bytes(32, "big") + s_.to_bytes(32, "big")


def spki(x: int, y: int, prefix: bytes = SPKI_PREFIX) -> bytes:
    return prefix + b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def point(vector: dict[str, Any]) -> tuple[int, int]:
    return int(vector["derived"]["public_x"], 16), int(vector["derived"]["public_y"], 16)


def test_every_vector_of_the_file_is_run() -> None:
    assert set(SIGN) == {
        "gbt32918.2-annexA-fp256-test", "gmt0003.5-annexA-sm2p256v1", "bc-sm2p256v1-custom-id",
    }  # fmt: skip
    assert len(DOC["digest_verify_vectors"]) == 3 and len(DOC["negative_vectors"]) == 12


# --- published vectors ------------------------------------------------------------------------


def test_the_annex_a_vector_verifies_and_its_key_loads_with_the_published_kid() -> None:
    derived = ANNEX_A["derived"]
    key = load_public_key(Alg.SM2, bytes.fromhex(derived["spki_der"]))
    assert key.kid.hex() == derived["kid_sha256_spki_first8"] == key_id(key.spki).hex()
    message = bytes.fromhex(derived["message_hex"])
    signature = bytes.fromhex(derived["signature_raw_r_s"])
    assert verify_signature(key, message, signature) is True
    assert ref.verify(SM2P256V1, *point(ANNEX_A), message, *_rs(signature)) is True


def test_the_custom_id_vector_is_invalid_under_the_default_id_and_valid_under_its_own() -> None:
    vector = SIGN["bc-sm2p256v1-custom-id"]
    derived = vector["derived"]
    key = load_public_key(Alg.SM2, bytes.fromhex(derived["spki_der"]))
    assert key.kid.hex() == derived["kid_sha256_spki_first8"]
    message = bytes.fromhex(derived["message_hex"])
    signature = bytes.fromhex(derived["signature_raw_r_s"])
    assert verify_signature(key, message, signature) is False  # SPEC §2 fixes the default ID
    user_id = vector["verbatim"]["user_id"].encode()
    assert ref.verify(SM2P256V1, *point(vector), message, *_rs(signature), user_id) is True


def test_the_fp256_example_verifies_on_its_own_curve_which_the_hub_does_not_take() -> None:
    """Out of scope for the hub (SPEC §2: sm2p256v1 only); the reference verifier runs it."""
    vector = SIGN["gbt32918.2-annexA-fp256-test"]
    derived = vector["derived"]
    curve = ref.Curve.from_hex(DOC["curves"]["fp256-test"])
    x, y = point(vector)
    signature = bytes.fromhex(derived["signature_raw_r_s"])
    user_id = vector["verbatim"]["user_id"].encode()
    assert ref.z_a(curve, user_id, x, y).hex().upper() == derived["ZA"]
    message = bytes.fromhex(derived["message_hex"])
    assert ref.verify(curve, x, y, message, *_rs(signature), user_id) is True
    with pytest.raises(InvalidKey):  # its point is not on sm2p256v1
        load_public_key(Alg.SM2, spki(x, y))


@pytest.mark.parametrize("vector", DOC["digest_verify_vectors"], ids=lambda v: v["id"])
def test_openssl_digest_vectors_verify_and_their_keys_load(vector: dict[str, Any]) -> None:
    derived = vector["derived"]
    key = load_public_key(Alg.SM2, bytes.fromhex(derived["spki_der"]))
    assert key.kid.hex() == derived["kid_sha256_spki_first8"]
    private = private_key_from_pem(vector["verbatim"]["private_key_pem"].encode())
    assert private.public == key
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(bytes.fromhex(vector["verbatim"]["signature_der"]))
    e = int(vector["verbatim"]["input_digest_e"], 16)
    assert ref.verify_digest(SM2P256V1, *point(vector), e, r, s) is True


# --- derived negatives -------------------------------------------------------------------------


@pytest.mark.parametrize("vector", DOC["negative_vectors"], ids=lambda v: v["id"])
def test_every_derived_negative_is_invalid(vector: dict[str, Any]) -> None:
    """Through verify_signature where it can express the change; the ID and Z_A negatives keep
    the valid signature and change the verifier, so only the reference can run them (the Annex A
    test above shows production hashes Z_A with the default ID: without it, it would fail)."""
    assert vector["based_on"] == ANNEX_A["id"]
    derived = ANNEX_A["derived"]
    key = load_public_key(Alg.SM2, bytes.fromhex(derived["spki_der"]))
    message = vector.get("message_ascii", ANNEX_A["verbatim"]["message_ascii"]).encode()
    r, s = int(vector["r"], 16), int(vector["s"], 16)
    x, y = point(ANNEX_A)
    if vector["id"] == "derived-wrong-user-id":
        assert not ref.verify(SM2P256V1, x, y, message, r, s, vector["user_id"].encode())
    elif vector["id"] == "derived-no-ZA":
        e = int.from_bytes(ref.sm3(message), "big")
        assert not ref.verify_digest(SM2P256V1, x, y, e, r, s)
    else:
        assert verify_signature(key, message, raw(vector["r"], vector["s"])) is False
        assert not ref.verify(SM2P256V1, x, y, message, r, s)


# --- keys --------------------------------------------------------------------------------------


def _annex_point() -> tuple[int, int]:
    return point(ANNEX_A)


def _compressed() -> bytes:
    x, y = _annex_point()
    body = bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
    return bytes.fromhex("3039301306072A8648CE3D020106082A811CCF5501822D032200") + body


def _der(tag: int, body: bytes) -> bytes:
    assert len(body) < 0x10000
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes(2 if len(body) > 0xFF else 1, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _explicit_parameters() -> bytes:
    """The Annex A key with sm2p256v1 spelled out as ECParameters (RFC 3279) instead of its OID."""
    c = SM2P256V1
    prime_field = bytes.fromhex("06072A8648CE3D0101")  # 1.2.840.10045.1.1
    parameters = _der(0x30, b"".join((
        _int(1),
        _der(0x30, prime_field + _int(c.p)),
        _der(0x30, _der(0x04, c.a.to_bytes(32, "big")) + _der(0x04, c.b.to_bytes(32, "big"))),
        _der(0x04, b"\x04" + c.gx.to_bytes(32, "big") + c.gy.to_bytes(32, "big")),
        _int(c.n),
        _int(1),
    )))  # fmt: skip
    algorithm = _der(0x30, bytes.fromhex("06072A8648CE3D0201") + parameters)
    return _der(0x30, algorithm + _der(0x03, b"\x00" + spki(*_annex_point())[-65:]))


@pytest.mark.parametrize(
    ("label", "make"),
    [
        ("compressed-point", _compressed),
        ("p256-oid", lambda: spki(*_annex_point(), bytes.fromhex(
            "3059301306072A8648CE3D020106082A8648CE3D030107034200"))),
        ("explicit-parameters", _explicit_parameters),
        ("off-curve", lambda: spki(_annex_point()[0], _annex_point()[1] ^ 1)),
        ("infinity", lambda: spki(0, 0)),
        ("x-at-p", lambda: spki(SM2P256V1.p, _annex_point()[1])),
        ("trailing-byte", lambda: spki(*_annex_point()) + b"\x00"),
        ("truncated", lambda: spki(*_annex_point())[:-1]),
    ],
)  # fmt: skip
def test_a_non_canonical_or_foreign_sm2_spki_is_invalid_key(
    label: str, make: Callable[[], bytes]
) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(Alg.SM2, make())


def test_an_sm2_spki_is_not_an_es256_or_ed25519_key_and_a_p256_key_is_not_sm2() -> None:
    sm2 = bytes.fromhex(ANNEX_A["derived"]["spki_der"])
    for alg in (Alg.ES256, Alg.ED25519):
        with pytest.raises(InvalidKey):
            load_public_key(alg, sm2)
    with pytest.raises(InvalidKey):
        load_public_key(Alg.SM2, generate_private_key(Alg.ES256).public.spki)


# --- our own signatures ------------------------------------------------------------------------


def test_signatures_made_here_verify_under_the_independent_reference() -> None:
    key = generate_private_key(Alg.SM2)
    x, y = int.from_bytes(key.public.spki[-64:-32]), int.from_bytes(key.public.spki[-32:])
    for message in (b"", b"HCM1", bytes(range(256))):
        signature = sign(key, message)
        assert verify_signature(key.public, message, signature)
        assert ref.verify(SM2P256V1, x, y, message, *_rs(signature))


def test_an_sm2_private_key_survives_pem() -> None:
    key = generate_private_key(Alg.SM2)
    again = private_key_from_pem(private_key_to_pem(key))
    assert again.public == key.public and verify_signature(key.public, b"m", sign(again, b"m"))


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 1), (1, 0), (SM2P256V1.n, 1), (1, SM2P256V1.n), (2**256 - 1, 2**256 - 1)],
    ids=["r0", "s0", "r=n", "s=n", "max"],
)
def test_sm2_r_or_s_out_of_range_is_false(r: int, s: int) -> None:
    key = generate_private_key(Alg.SM2).public
    assert verify_signature(key, b"m", r.to_bytes(32, "big") + s.to_bytes(32, "big")) is False


def test_random_signatures_are_false_and_print_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """A library that writes to stderr on every failed verify would let attackers fill the log."""
    key = generate_private_key(Alg.SM2).public
    rng = random.Random(32918)
    for length in (0, 63, 64, 64, 64, 65):
        assert verify_signature(key, b"code", rng.randbytes(length)) is False
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def _rs(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
