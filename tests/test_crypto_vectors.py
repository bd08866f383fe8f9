"""gateway.core.crypto against the shared vectors: Wycheproof, RFC 8032 §7.1, small-order keys.

Every Wycheproof case goes through the same two calls production uses, ``load_public_key`` on
the group's DER SPKI and ``verify_signature`` on the raw bytes. All group keys in the three
files are canonical, so none is refused at load (pinned by a test below).
"""

from __future__ import annotations

import functools
import hashlib
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.core.crypto import (
    PublicKey,
    generate_private_key,
    key_id,
    load_public_key,
    private_key_from_pem,
    private_key_from_seed,
    private_key_to_pem,
    sign,
    spki_of,
    verify_signature,
)
from gateway.core.model import Alg
from gateway.errors import InvalidKey, WeakKey
from vectors import load_json

ED25519_FILE = "wycheproof/ed25519_test.json"
P1363_FILE = "wycheproof/ecdsa_secp256r1_sha256_p1363_test.json"
DER_FILE = "wycheproof/ecdsa_secp256r1_sha256_test.json"
WYCHEPROOF = {ED25519_FILE: Alg.ED25519, P1363_FILE: Alg.ES256, DER_FILE: Alg.ES256}

ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

Case = tuple[str, dict[str, Any], dict[str, Any]]  # (file, group, test)


def wycheproof_cases(rel: str) -> list[Case]:
    doc = load_json(rel)
    return [(rel, group, test) for group in doc["testGroups"] for test in group["tests"]]


def case_id(case: Case) -> str:
    rel, _, test = case
    return f"{rel.removeprefix('wycheproof/').removesuffix('_test.json')}-tc{test['tcId']}"


@functools.cache
def group_key(alg: Alg, spki_hex: str) -> PublicKey:
    # One load per group, as a registry would hold it.
    return load_public_key(alg, bytes.fromhex(spki_hex))


SIGNATURE_CASES = wycheproof_cases(ED25519_FILE) + wycheproof_cases(P1363_FILE)
DER_CASES = wycheproof_cases(DER_FILE)


# --- Wycheproof -----------------------------------------------------------------------------


@pytest.mark.parametrize("rel", list(WYCHEPROOF))
def test_every_wycheproof_case_is_run_exactly_once(rel: str) -> None:
    doc = load_json(rel)
    cases = [c for c in SIGNATURE_CASES + DER_CASES if c[0] == rel]
    tc_ids = [test["tcId"] for _, _, test in cases]
    assert len(cases) == doc["numberOfTests"]
    assert len(set(tc_ids)) == len(tc_ids)
    # No "acceptable" outcome exists in these files; if an update adds one, decide it here.
    assert {test["result"] for _, _, test in cases} == {"valid", "invalid"}


@pytest.mark.parametrize("rel", list(WYCHEPROOF))
def test_every_wycheproof_group_key_loads_in_canonical_form(rel: str) -> None:
    for group in load_json(rel)["testGroups"]:
        key = group_key(WYCHEPROOF[rel], group["publicKeyDer"])
        assert key.spki.hex() == group["publicKeyDer"]


@pytest.mark.parametrize(
    ("rel", "group", "test"), SIGNATURE_CASES, ids=map(case_id, SIGNATURE_CASES)
)
def test_wycheproof_signature_verifies_exactly_when_valid(
    rel: str, group: dict[str, Any], test: dict[str, Any]
) -> None:
    key = group_key(WYCHEPROOF[rel], group["publicKeyDer"])
    got = verify_signature(key, bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))
    assert got is (test["result"] == "valid"), (test["comment"], test["flags"])


def der_to_p1363(sig: bytes) -> bytes | None:
    """The wire form of a DER signature; None if it is not strict DER or r, s exceed 32 bytes."""
    try:
        r, s = decode_dss_signature(sig)
    except ValueError:
        return None
    # Re-encoding must give the same bytes: that refuses BER and any other alternative form.
    if encode_dss_signature(r, s) != sig or not (0 <= r < 2**256 and 0 <= s < 2**256):
        return None
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(("rel", "group", "test"), DER_CASES, ids=map(case_id, DER_CASES))
def test_wycheproof_der_signature_verifies_exactly_when_valid_once_in_p1363_form(
    rel: str, group: dict[str, Any], test: dict[str, Any]
) -> None:
    key = group_key(WYCHEPROOF[rel], group["publicKeyDer"])
    raw = der_to_p1363(bytes.fromhex(test["sig"]))
    got = raw is not None and verify_signature(key, bytes.fromhex(test["msg"]), raw)
    assert got is (test["result"] == "valid"), (test["comment"], test["flags"])


# --- RFC 8032 §7.1 --------------------------------------------------------------------------

RFC8032 = load_json("rfc8032/ed25519_rfc8032_7_1.json")


def test_all_five_rfc8032_vectors_are_run() -> None:
    assert len(RFC8032["tests"]) == RFC8032["numberOfTests"] == 5


@pytest.mark.parametrize("vector", RFC8032["tests"], ids=lambda v: v["name"])
def test_rfc8032_signature_verifies_and_signing_reproduces_it(vector: dict[str, Any]) -> None:
    spki = ED25519_SPKI_PREFIX + bytes.fromhex(vector["publicKey"])
    msg, sig = bytes.fromhex(vector["msg"]), bytes.fromhex(vector["sig"])
    assert verify_signature(load_public_key(Alg.ED25519, spki), msg, sig)
    private = private_key_from_seed(bytes.fromhex(vector["secretKey"]))
    assert spki_of(private) == spki
    assert sign(private, msg) == sig


# --- small-order Ed25519 keys ---------------------------------------------------------------

SMALL_ORDER = load_json("ed25519-small-order/ed25519_small_order_keys.json")


def test_all_fourteen_small_order_keys_are_run() -> None:
    assert len(SMALL_ORDER["keys"]) == SMALL_ORDER["numberOfKeys"] == 14


@pytest.mark.parametrize(
    "weak",
    SMALL_ORDER["keys"],
    ids=lambda k: f"order{k['order']}-{k['publicKey'][:4]}..{k['publicKey'][-2:]}",
)
def test_small_order_ed25519_key_is_refused_as_weak(weak: dict[str, Any]) -> None:
    with pytest.raises(WeakKey):
        load_public_key(Alg.ED25519, ED25519_SPKI_PREFIX + bytes.fromhex(weak["publicKey"]))


# --- key loading ----------------------------------------------------------------------------

RFC_TEST1_SPKI = ED25519_SPKI_PREFIX + bytes.fromhex(RFC8032["tests"][0]["publicKey"])


def p256_spki() -> bytes:
    return spki_of(generate_private_key(Alg.ES256))


def der(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else b"\x82" + n.to_bytes(2)
    return bytes([tag]) + length + body


def der_int(i: int) -> bytes:
    return der(0x02, i.to_bytes(i.bit_length() // 8 + 1, "big"))


def explicit_parameters_spki(spki: bytes) -> bytes:
    """The same P-256 point, with the curve spelt out (RFC 3279 ECParameters) instead of named."""
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    g = bytes.fromhex(
        "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
    )
    field_id = der(0x30, der(0x06, bytes.fromhex("2a8648ce3d0101")) + der_int(p))
    curve = der(0x30, der(0x04, (p - 3).to_bytes(32, "big")) + der(0x04, b.to_bytes(32, "big")))
    params = der(0x30, der_int(1) + field_id + curve + der(0x04, g) + der_int(P256_N) + der_int(1))
    algorithm = der(0x30, der(0x06, bytes.fromhex("2a8648ce3d0201")) + params)
    return der(0x30, algorithm + der(0x03, b"\x00" + spki[-65:]))


def test_key_id_is_the_first_eight_bytes_of_sha256_over_the_spki() -> None:
    assert key_id(RFC_TEST1_SPKI) == hashlib.sha256(RFC_TEST1_SPKI).digest()[:8]
    assert key_id(RFC_TEST1_SPKI).hex() == "06e3fd8fda29bb60"  # golden: catches drift
    assert load_public_key("Ed25519", RFC_TEST1_SPKI).kid == key_id(RFC_TEST1_SPKI)


def test_compressed_point_p256_spki_is_refused_as_invalid() -> None:
    point = load_public_key(Alg.ES256, p256_spki()).impl.public_bytes(
        Encoding.X962, PublicFormat.CompressedPoint
    )
    compressed = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200") + point
    with pytest.raises(InvalidKey):
        load_public_key(Alg.ES256, compressed)


def test_explicit_parameters_p256_spki_is_refused_as_invalid() -> None:
    # cryptography 50 loads this and maps it back to the named curve; only the canonical
    # re-encoding check refuses it.
    with pytest.raises(InvalidKey):
        load_public_key(Alg.ES256, explicit_parameters_spki(p256_spki()))


def test_off_curve_p256_point_is_refused_as_invalid() -> None:
    spki = bytearray(p256_spki())
    spki[-1] ^= 1
    with pytest.raises(InvalidKey):
        load_public_key(Alg.ES256, bytes(spki))


def test_spki_with_trailing_bytes_is_refused_as_invalid() -> None:
    with pytest.raises(InvalidKey):
        load_public_key(Alg.ED25519, RFC_TEST1_SPKI + b"\x00")


def ec_spki(curve: ec.EllipticCurve) -> bytes:
    public = ec.generate_private_key(curve).public_key()
    return public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(
    ("alg", "spki"),
    [
        pytest.param("ES256", RFC_TEST1_SPKI, id="ed25519-spki-as-es256"),
        pytest.param("Ed25519", ec_spki(ec.SECP256R1()), id="p256-spki-as-ed25519"),
        pytest.param("ES256", ec_spki(ec.SECP384R1()), id="p384-spki-as-es256"),
    ],
)
def test_key_of_another_type_or_curve_than_alg_is_refused_as_invalid(alg: str, spki: bytes) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(alg, spki)


@pytest.mark.parametrize(
    "spki",
    [b"", b"garbage", b"\x30\x00", RFC_TEST1_SPKI[:-1]],
    ids=["empty", "text", "seq", "short"],
)
def test_bytes_that_are_no_spki_are_refused_as_invalid(spki: bytes) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(Alg.ED25519, spki)


@pytest.mark.parametrize("alg", ["RS256", "ed25519", "EdDSA", ""])
def test_unknown_alg_is_refused_as_invalid(alg: str) -> None:
    with pytest.raises(InvalidKey):
        load_public_key(alg, RFC_TEST1_SPKI)


# --- signing and verifying ------------------------------------------------------------------


@pytest.mark.parametrize("alg", list(Alg))
def test_signature_round_trips_and_survives_pem(alg: Alg) -> None:
    key = generate_private_key(alg)
    sig = sign(key, b"code")
    assert len(sig) == 64
    assert verify_signature(key.public, b"code", sig)
    again = private_key_from_pem(private_key_to_pem(key))
    assert again.public == key.public
    assert verify_signature(again.public, b"code", sign(again, b"code"))


@pytest.mark.parametrize("alg", list(Alg))
def test_signature_over_one_message_does_not_verify_another(alg: Alg) -> None:
    key = generate_private_key(alg)
    assert not verify_signature(key.public, b"code 2", sign(key, b"code 1"))


@pytest.mark.parametrize("alg", list(Alg))
@pytest.mark.parametrize("length", [0, 32, 63, 65, 128])
def test_signature_of_any_length_but_64_is_false(alg: Alg, length: int) -> None:
    key = generate_private_key(alg)
    sig = sign(key, b"code")
    assert verify_signature(key.public, b"code", (sig + sig)[:length]) is False
    assert verify_signature(key.public, b"code", sig) is True


def test_es256_signature_in_der_form_is_false() -> None:
    key = generate_private_key(Alg.ES256)
    sig = sign(key, b"code")
    der_sig = encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:]))
    assert verify_signature(key.public, b"code", der_sig) is False


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 1), (1, 0), (0, 0), (P256_N, 1), (1, P256_N), (2**256 - 1, 2**256 - 1)],
    ids=["r0", "s0", "both0", "r=n", "s=n", "max"],
)
def test_es256_r_or_s_out_of_range_is_false(r: int, s: int) -> None:
    key = generate_private_key(Alg.ES256)
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert verify_signature(key.public, b"code", sig) is False


@pytest.mark.parametrize("alg", list(Alg))
def test_random_bytes_as_signature_give_false_never_an_exception(alg: Alg) -> None:
    key = generate_private_key(alg).public
    rng = random.Random(8032)
    for length in range(130):
        assert verify_signature(key, b"code", rng.randbytes(length)) is False
