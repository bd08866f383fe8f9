"""Frozen byte vectors (tests/golden/codes.json): bytes in, verdict out. They catch wire-format
drift in either direction: the decoder's reading and the encoder's writing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from gateway.core.crypto import load_public_key, private_key_from_seed, sign
from gateway.core.model import Domain, IssuerCode
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.core.verify import verify
from gateway.core.wire import Malformed, decode_code, decode_text, encode_envelope

GOLDEN = json.loads((Path(__file__).parent / "golden" / "codes.json").read_text())
NOW = GOLDEN["now"]
TRUST = TrustSnapshot.build(
    1,
    [IssuerCode(k["iss"]) for k in GOLDEN["keys"]],
    [
        KeyRecord(
            IssuerCode(k["iss"]),
            load_public_key(k["alg"], bytes.fromhex(k["spki"])),
            NOW - 3600,
            NOW + 3600,
        )
        for k in GOLDEN["keys"]
    ],
)


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["name"] for c in GOLDEN["cases"]])
def test_frozen_code_gets_its_frozen_verdict(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["envelope"])
    assert decode_text(case["text"]) == raw
    try:
        verdict = verify(decode_code(raw), TRUST, NOW, None)
    except Malformed:
        assert case["expected"] == {"valid": False, "reason": "MALFORMED"}
        return
    assert verdict.valid is case["expected"]["valid"]
    if verdict.valid:
        assert verdict.colour is not None and verdict.colour.label == case["expected"]["colour"]
    else:
        assert verdict.reason is not None and verdict.reason.value == case["expected"]["reason"]


def test_the_encoder_still_writes_the_frozen_ed25519_bytes() -> None:
    key = private_key_from_seed(
        hashlib.sha256(GOLDEN["keys"][0]["seed_sha256_of"].encode()).digest()
    )
    claims = {
        1: "440000",
        2: bytes(range(16)),
        4: NOW + 300,
        6: NOW,
        7: 1,
        8: 7,
        9: bytes(range(16, 32)),
        10: "张*",
    }
    raw = encode_envelope(
        Domain.CODE,
        key.public.alg,
        key.public.kid,
        msgpack.packb(claims, use_bin_type=True),
        lambda m: sign(key, m),
    )
    assert raw.hex() == GOLDEN["cases"][0]["envelope"]


@pytest.mark.parametrize("case", GOLDEN["admin"], ids=[c["name"] for c in GOLDEN["admin"]])
def test_frozen_management_message_passes_its_upload_key(case: dict[str, Any]) -> None:
    from gateway.core.admin import (
        KeyRevoke,
        UploadKey,
        check_upload_signature,
        decode_admin_envelope,
        decode_message,
    )

    upload = load_public_key("SM2", bytes.fromhex(case["upload_spki"]))
    envelope = decode_admin_envelope(bytes.fromhex(case["envelope"]))
    keys = {upload.kid: UploadKey(IssuerCode(case["expected"]["iss"]), upload)}
    assert check_upload_signature(envelope, keys).key == upload
    message = decode_message(envelope.payload, case["typ"])
    assert isinstance(message, KeyRevoke) and message.kid.hex() == case["expected"]["kid"]
