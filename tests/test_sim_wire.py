"""The simulator's own encoder (provinces_sim.wire, .crypto) against the gateway's strict
decoder and verifier: what one side writes from SPEC.md, the other reads from SPEC.md."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from gateway.core.admin import (
    KeyAdd,
    StatusUpdate,
    UploadKey,
    check_upload_signature,
    decode_admin_envelope,
    decode_message,
)
from gateway.core.crypto import key_id, load_public_key, verify_signature
from gateway.core.model import IssuerCode
from gateway.core.wire import decode_code, decode_text
from provinces_sim.census import BY_ISS, ED25519, ES256
from provinces_sim.crypto import SigningKey, verify
from provinces_sim.issuer import CodeKey, Issuer, KeyState, Resident
from provinces_sim.wire import text_form
from vectors import load_json

NOW = 1_600_000_000


def make_issuer(iss: str) -> Issuer:
    province = BY_ISS[iss]
    key = CodeKey(SigningKey.generate(province.alg), NOW - 86_400, NOW + 86_400, KeyState.ACTIVE)
    return Issuer(province, SigningKey.generate(province.alg), b"s" * 32, [key])


def resident(iss: str) -> Resident:
    return Resident(iss=iss, sub=bytes(range(16)), nm="欧阳**", city=iss, colour=2, sv=7)


@pytest.mark.parametrize("iss", ["440000", "110000"], ids=[ED25519, ES256])
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


def _message(issuer: Issuer, typ: str, **fields: Any) -> Any:
    envelope = decode_admin_envelope(issuer.message(typ, NOW, **fields))
    upload = load_public_key(issuer.alg, issuer.upload.spki)
    uploads = {upload.kid: UploadKey(IssuerCode(issuer.iss), upload)}
    assert check_upload_signature(envelope, uploads).iss == issuer.iss
    return decode_message(envelope.payload, typ)


@pytest.mark.parametrize("iss", ["440000", "110000"], ids=[ED25519, ES256])
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
    for alg in (ED25519, ES256):
        key = SigningKey.generate(alg)
        again = SigningKey.from_pem(key.to_pem())
        assert (again.alg, again.spki, again.kid) == (key.alg, key.spki, key.kid)
