"""The simulator's own encoder (provinces_sim.wire, .crypto) against the gateway's strict
decoder and verifier: what one side writes from SPEC.md, the other reads from SPEC.md. SM2 (with
Tongsuo on both sides) is also held to the GM/T 0003.5 Annex A vector and its derived negatives
in shared/vectors/sm2, and to the gateway's signatures in the other direction."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from tongsuopy.crypto import serialization as sm_serialization
from tongsuopy.crypto.asymciphers import ec as sm_ec

from gateway.core.admin import (
    KeyAdd,
    Message,
    StatusUpdate,
    UploadKey,
    check_upload_signature,
    decode_admin_envelope,
    decode_message,
)
from gateway.core.crypto import (
    generate_private_key,
    key_id,
    load_public_key,
    sign,
    verify_signature,
)
from gateway.core.model import Alg, IssuerCode
from gateway.core.wire import decode_code, decode_text
from provinces_sim.census import BY_ISS, ED25519, ES256, SM2
from provinces_sim.crypto import ALGS, SM2_N, SigningKey, verify
from provinces_sim.issuer import CodeKey, Issuer, KeyState, Resident
from provinces_sim.wire import text_form
from vectors import load_json

NOW = 1_600_000_000
ISSUERS = pytest.mark.parametrize("iss", ["440000", "110000", "410000"], ids=[ED25519, ES256, SM2])
SM2_DOC = load_json("sm2/sm2-vectors.json")
ANNEX_A = next(v for v in SM2_DOC["sign_vectors"] if v["id"] == "gmt0003.5-annexA-sm2p256v1")


def make_issuer(iss: str) -> Issuer:
    province = BY_ISS[iss]
    key = CodeKey(SigningKey.generate(province.alg), NOW - 86_400, NOW + 86_400, KeyState.ACTIVE)
    return Issuer(province, SigningKey.generate(province.alg), b"s" * 32, [key])


def resident(iss: str) -> Resident:
    return Resident(iss=iss, sub=bytes(range(16)), nm="欧阳**", city=iss, colour=2, sv=7)


@ISSUERS
def test_a_code_decodes_strictly_and_verifies_under_the_registered_key(iss: str) -> None:
    issuer = make_issuer(iss)
    code = issuer.issue(resident(iss), NOW, 300)
    decoded = decode_code(code.envelope)
    claims = code.truth.claims
    assert claims is not None
    assert (decoded.iss, decoded.cid, decoded.iat, decoded.exp) == (iss, claims.cid, NOW, NOW + 300)
    assert (int(decoded.col), decoded.sv, decoded.nm) == (2, 7, "欧阳**")
    assert decoded.sub == bytes(range(16))
    assert decoded.envelope.alg.value == issuer.alg
    assert decoded.envelope.kid == key_id(issuer.active_key.key.spki) == issuer.active_key.key.kid
    public = load_public_key(issuer.alg, issuer.active_key.key.spki)  # canonical SPKI or raises
    assert verify_signature(public, decoded.envelope.signed, decoded.envelope.signature)
    assert len(code.envelope) < 1024


def test_the_text_form_is_hcm1_and_canonical_base64url() -> None:
    code = make_issuer("440000").issue(resident("440000"), NOW, 300)
    text = text_form(code.envelope)
    assert text.startswith("HCM1:") and "=" not in text
    assert decode_text(text) == code.envelope


def test_a_code_without_a_name_leaves_key_10_out() -> None:
    issuer = make_issuer("440000")
    nameless = Resident(iss="440000", sub=b"\x01" * 16, nm="", city="440100")
    code = issuer.issue(nameless, NOW, 300)
    assert decode_code(code.envelope).nm == ""  # an empty mask is still a str of ≤ 16


def _message(issuer: Issuer, typ: str, **fields: Any) -> Message:
    envelope = decode_admin_envelope(issuer.message(typ, NOW, **fields))
    upload = load_public_key(issuer.alg, issuer.upload.spki)
    uploads = {upload.kid: UploadKey(IssuerCode(issuer.iss), upload)}
    assert check_upload_signature(envelope, uploads).iss == issuer.iss
    return decode_message(envelope.payload, typ)


@ISSUERS
def test_management_messages_decode_and_verify_under_the_upload_key(iss: str) -> None:
    issuer = make_issuer(iss)
    key = issuer.active_key
    added = _message(
        issuer, "key.add", alg=key.key.alg, spki=key.key.spki, nbf=key.nbf, naf=key.naf
    )
    assert isinstance(added, KeyAdd) and added.spki == key.key.spki and added.iat == NOW
    status = _message(issuer, "status", seq=3, events=[[b"\x02" * 16, 1, 4, NOW]])
    assert isinstance(status, StatusUpdate) and status.seq == 3
    assert (status.events[0].sub, int(status.events[0].colour), status.events[0].sv) == (
        b"\x02" * 16, 1, 4,
    )  # fmt: skip


def test_every_message_has_a_fresh_nonce() -> None:
    issuer = make_issuer("440000")
    nonces = {_message(issuer, "status", seq=1, events=[]).nonce for _ in range(20)}
    assert len(nonces) == 20 and all(len(n) == 16 for n in nonces)


def test_ed25519_signatures_match_the_rfc8032_known_answers() -> None:
    for vector in load_json("rfc8032/ed25519_rfc8032_7_1.json")["tests"]:
        seed = bytes.fromhex(vector["secretKey"])
        pem = Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        key = SigningKey.from_pem(pem)
        assert key.spki.endswith(bytes.fromhex(vector["publicKey"]))
        message = bytes.fromhex(vector["msg"])
        assert key.sign(message).hex() == vector["sig"], vector["name"]
        assert verify(ED25519, key.spki, message, bytes.fromhex(vector["sig"]))


def test_es256_signatures_are_raw_r_and_s_and_verify_with_the_gateway() -> None:
    key = SigningKey.generate(ES256)
    public = load_public_key(ES256, key.spki)
    for n in range(20):
        message = f"message {n}".encode()
        signature = key.sign(message)
        assert len(signature) == 64
        assert verify_signature(public, message, signature)
        assert verify(ES256, key.spki, message, signature)
        assert not verify(ES256, key.spki, message + b"!", signature)


def test_keys_survive_the_keystore_round_trip() -> None:
    for alg in ALGS:
        key = SigningKey.generate(alg)
        again = SigningKey.from_pem(key.to_pem())
        assert (again.alg, again.spki, again.kid) == (key.alg, key.spki, key.kid)
        assert verify(alg, key.spki, b"m", again.sign(b"m"))  # the private half came back too


# --- SM2 (SPEC §2) ------------------------------------------------------------------------------


def test_an_sm2_key_has_the_canonical_91_byte_spki_and_its_kid() -> None:
    key = SigningKey.generate(SM2)
    prefix = bytes.fromhex("3059301306072A8648CE3D020106082A811CCF5501822D034200")
    assert len(key.spki) == 91 and key.spki.startswith(prefix + b"\x04")
    assert key.kid == hashlib.sha256(key.spki).digest()[:8]
    public = load_public_key(SM2, key.spki)  # the hub's canonicality check, by bytes
    assert public.kid == key.kid
    tongsuo = sm_serialization.load_der_public_key(key.spki).public_numbers()
    assert key.spki[27:] == tongsuo.x.to_bytes(32, "big") + tongsuo.y.to_bytes(32, "big")


def test_the_annex_a_key_gives_the_published_spki_and_kid_and_its_signature_verifies() -> None:
    d = int(ANNEX_A["verbatim"]["private_key_d"], 16)
    key = SigningKey(sm_ec.derive_private_key(d, sm_ec.SM2()))
    assert key.spki.hex().upper() == ANNEX_A["derived"]["spki_der"]
    assert key.kid.hex() == ANNEX_A["derived"]["kid_sha256_spki_first8"]
    message = ANNEX_A["verbatim"]["message_ascii"].encode()
    signature = bytes.fromhex(ANNEX_A["derived"]["signature_raw_r_s"])
    assert verify(SM2, key.spki, message, signature)
    assert verify(SM2, key.spki, message, key.sign(message))  # a fresh k, the same key


@pytest.mark.parametrize(
    "vector",
    [v for v in SM2_DOC["negative_vectors"] if v["id"] not in ("derived-wrong-user-id",
                                                             "derived-no-ZA")],
    ids=lambda v: v["id"],
)  # fmt: skip
def test_every_derived_negative_the_simulator_can_express_is_invalid(
    vector: dict[str, Any],
) -> None:
    """The wrong-ID and no-Z_A negatives need another hash than SPEC's (tests/test_crypto_sm2.py
    runs them through a reference); r or s of 257 bits cannot be carried in 64 bytes at all."""
    spki = bytes.fromhex(ANNEX_A["derived"]["spki_der"])
    message = vector.get("message_ascii", ANNEX_A["verbatim"]["message_ascii"]).encode()
    r, s = int(vector["r"], 16), int(vector["s"], 16)
    if max(r, s) >= 2**256:
        assert vector["id"] in ("derived-r_plus_n", "derived-s_plus_n")
        return
    assert not verify(SM2, spki, message, r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def test_sm2_signatures_are_raw_r_and_s_and_verify_with_the_gateway_both_ways() -> None:
    ours = SigningKey.generate(SM2)
    public = load_public_key(SM2, ours.spki)
    theirs = generate_private_key(Alg.SM2)
    for n in range(10):
        message = f"message {n}".encode()
        signature = ours.sign(message)
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        assert len(signature) == 64 and 0 < r < SM2_N and 0 < s < SM2_N
        assert verify_signature(public, message, signature)
        assert verify(SM2, ours.spki, message, signature)
        assert not verify(SM2, ours.spki, message + b"!", signature)
        assert verify(SM2, theirs.public.spki, message, sign(theirs, message))


def test_sm2_r_or_s_out_of_range_never_verifies() -> None:
    key = SigningKey.generate(SM2)
    signature = key.sign(b"m")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    for bad_r, bad_s in ((0, s), (r, 0), (SM2_N, s), (r, SM2_N), (r, 2**256 - 1), (r + SM2_N, s)):
        if bad_r < 2**256:
            raw = bad_r.to_bytes(32, "big") + bad_s.to_bytes(32, "big")
            assert not verify(SM2, key.spki, b"m", raw), (bad_r, bad_s)


def test_an_sm2_signature_is_not_an_es256_one_nor_an_sm2_spki_a_p256_key() -> None:
    sm2, p256 = SigningKey.generate(SM2), SigningKey.generate(ES256)
    assert not verify(ES256, sm2.spki, b"m", sm2.sign(b"m"))  # the registry's alg decides
    assert not verify(SM2, p256.spki, b"m", p256.sign(b"m"))
    assert not verify(ES256, p256.spki, b"m", sm2.sign(b"m"))


def test_a_non_canonical_sm2_spki_never_verifies() -> None:
    key = SigningKey.generate(SM2)
    signature = key.sign(b"m")
    x, y = key.spki[27:59], key.spki[59:]
    compressed = bytes.fromhex("3039301306072A8648CE3D020106082A811CCF5501822D032200")
    compressed += bytes([2 + (y[-1] & 1)]) + x
    assert sm_serialization.load_der_public_key(compressed)  # Tongsuo itself takes it
    off_curve = key.spki[:-1] + bytes([key.spki[-1] ^ 1])
    for spki in (compressed, off_curve, key.spki + b"\x00", key.spki[:-1]):
        assert not verify(SM2, spki, b"m", signature)
