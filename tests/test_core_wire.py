"""Strict decoding (SPEC §2, §3): every way a code can be malformed is refused."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from factory import GD, NOW, World, claims, envelope, pack
from gateway.core.model import Alg, Domain
from gateway.core.wire import (
    Malformed,
    decode_code,
    decode_envelope,
    decode_text,
    encode_text,
)
from vectors import load_json


@pytest.fixture(scope="module")
def world() -> World:
    return World.make()


@pytest.fixture(scope="module")
def good(world: World) -> bytes:
    return world.code(GD)


def test_a_valid_code_decodes_into_its_claims(world: World) -> None:
    raw = world.code(GD, iat=NOW, exp=NOW + 60, col=1, sv=7, nm="李*")
    code = decode_code(raw)
    assert (code.iss, code.iat, code.exp, code.col, code.sv, code.nm) == (
        GD,
        NOW,
        NOW + 60,
        1,
        7,
        "李*",
    )
    assert code.envelope.alg is Alg.ED25519
    assert code.envelope.kid == world.issuers[GD].code_key.public.kid


def test_signed_bytes_are_a_slice_of_what_was_received(good: bytes) -> None:
    env = decode_envelope(good, Domain.CODE)
    protected, payload, _ = msgpack.unpackb(good)
    assert env.signed == msgpack.packb(["HCM1", protected, payload], use_bin_type=True)
    assert decode_envelope(good, Domain.ADMIN).signed[:12] == b"\x93\xaaHCM1-ADMIN"


def test_every_strict_prefix_of_a_valid_code_is_malformed(good: bytes) -> None:
    for n in range(len(good)):
        with pytest.raises(Malformed):
            decode_code(good[:n])


@pytest.mark.parametrize("tail", [b"\x00", b"\xc0", b"\x90", b"\x00" * 10])
def test_trailing_bytes_are_malformed(good: bytes, tail: bytes) -> None:
    with pytest.raises(Malformed):
        decode_code(good + tail)


def test_an_envelope_over_1024_bytes_is_malformed(world: World) -> None:
    with pytest.raises(Malformed, match="over 1024"):
        decode_code(world.code(GD, k99="x" * 1000))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xdd\xff\xff\xff\xff",  # array32 claiming 4 G elements
        b"\x93\xc6\xff\xff\xff\xff" + b"\x00" * 20,  # bin32 claiming 4 GiB
        b"\x93\xc5\xff\xff" + b"\x00" * 20,
        b"\x94\xc4\x00\xc4\x00\xc4\x00\xc4\x00",  # four elements
        b"\x92\xc4\x00\xc4\x00",  # two elements
        b"\x93\xa1a\xa1b\xa1c",  # str instead of bin
        b"",
    ],
)
def test_hostile_envelope_headers_are_malformed(raw: bytes) -> None:
    with pytest.raises(Malformed):
        decode_code(raw)


def _rebuild(
    good: bytes,
    *,
    protected: bytes | None = None,
    payload: bytes | None = None,
    signature: bytes | None = None,
) -> bytes:
    p, b, s = msgpack.unpackb(good)
    return pack(
        [
            protected if protected is not None else p,
            payload if payload is not None else b,
            signature if signature is not None else s,
        ]
    )


def test_a_non_minimal_bin_header_is_malformed(good: bytes) -> None:
    p, b, s = msgpack.unpackb(good)
    raw = b"\x93" + b"\xc5" + len(p).to_bytes(2, "big") + p + msgpack.packb(b) + msgpack.packb(s)
    with pytest.raises(Malformed, match="non-minimal"):
        decode_code(raw)


@pytest.mark.parametrize(
    "protected",
    [
        pack({4: b"k" * 8, 1: "Ed25519"}),  # key order
        pack({1: "Ed25519", 4: b"k" * 8, 5: 0}),  # extra key
        pack({1: "RS256", 4: b"k" * 8}),  # unknown alg
        pack({1: "none", 4: b"k" * 8}),
        pack({1: "Ed25519", 4: b"k" * 7}),  # short kid
        pack({1: "Ed25519", 4: "kkkkkkkk"}),  # kid as str
        pack({1: "Ed25519"}),
    ],
)
def test_a_protected_header_other_than_exactly_alg_and_kid_is_malformed(
    good: bytes, protected: bytes
) -> None:
    with pytest.raises(Malformed):
        decode_code(_rebuild(good, protected=protected))


@pytest.mark.parametrize("length", [0, 63, 65, 128])
def test_a_signature_that_is_not_64_bytes_is_malformed(good: bytes, length: int) -> None:
    with pytest.raises(Malformed):
        decode_code(_rebuild(good, signature=b"s" * length))


def _payload(**kw: Any) -> bytes:
    return pack(claims(GD, **kw))


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("iss not six digits", pack({**claims(GD), 1: "44000"})),
        ("iss with letters", pack({**claims(GD), 1: "44000a"})),
        ("iss as int", pack({**claims(GD), 1: 440000})),
        ("cid 15 bytes", _payload(cid=b"c" * 15)),
        ("sub as str", pack({**claims(GD), 9: "s" * 16})),
        ("exp as float", pack({**claims(GD), 4: float(NOW + 300)})),
        ("col as bool", pack({**claims(GD), 7: True})),
        ("col 3", _payload(col=3)),
        ("sv negative", pack({**claims(GD), 8: -1})),
        ("sv over 2^53-1", pack({**claims(GD), 8: 2**53})),
        ("missing sv", pack({k: v for k, v in claims(GD).items() if k != 8})),
        ("nm 17 code points", _payload(nm="张" * 17)),
        ("nm as bin", pack({**claims(GD), 10: b"x"})),
        ("str key", pack({**claims(GD), "x": 1})),
        ("unknown key with an array value", pack({**claims(GD), 20: [1]})),
        ("unknown key with a negative int", pack({**claims(GD), 20: -5})),
        ("payload is an array", pack([1, 2, 3])),
        ("ext type", pack({**claims(GD), 20: msgpack.ExtType(5, b"x")})),
        ("timestamp ext", pack({**claims(GD), 20: msgpack.Timestamp(1, 0)})),
        ("invalid utf-8 in nm", pack({**claims(GD), 10: "x"})[:-1] + b"\xff"),
        ("trailing byte in payload", pack(claims(GD)) + b"\xc0"),
        ("reserved byte c1", b"\xc1"),
    ],
)
def test_payloads_that_break_the_shape_are_malformed(
    world: World, name: str, payload: bytes
) -> None:
    raw = envelope(Domain.CODE, world.issuers[GD].code_key, payload)
    with pytest.raises(Malformed):
        decode_code(raw)


def test_a_duplicate_claim_key_is_malformed_even_with_equal_values(world: World) -> None:
    body = claims(GD)
    items = b"".join(pack(k) + pack(v) for k, v in body.items())
    dup = bytes([0x80 | (len(body) + 1)]) + items + pack(1) + pack(GD)
    with pytest.raises(Malformed, match="duplicate"):
        decode_code(envelope(Domain.CODE, world.issuers[GD].code_key, dup))


def test_unknown_integer_keys_with_scalar_values_are_ignored(world: World) -> None:
    code = decode_code(world.code(GD, k11="x", k12=5, k13=None, k14=b"b", k15=1.5, k16=True))
    assert code.iss == GD


def test_a_non_minimal_payload_is_accepted_because_the_signature_covers_its_bytes(
    world: World,
) -> None:
    body = claims(GD, nm=None)
    items = b"".join(
        pack(k) + (b"\xcf" + v.to_bytes(8, "big") if k == 8 else pack(v)) for k, v in body.items()
    )
    payload = bytes([0x80 | len(body)]) + items
    assert decode_code(envelope(Domain.CODE, world.issuers[GD].code_key, payload)).sv == body[8]


class TestTextForm:
    def test_round_trip(self, good: bytes) -> None:
        assert decode_text(encode_text(good)) == good

    @pytest.mark.parametrize(
        "bad",
        [
            "hcm1:",
            "HCM2:AAAA",
            "HCM1:AA==",
            "HCM1:A+B/",
            "HCM1: AAAA",
            "HCM1:AAAA\n",
            "HCM1:A",
            "HCM1:AB",
        ],
    )
    def test_anything_but_the_prefix_and_unpadded_base64url_is_malformed(self, bad: str) -> None:
        with pytest.raises(Malformed):
            decode_text(bad)


def test_msgpack_test_suite_encodings_never_crash_the_decoder() -> None:
    """Positive-only suite (kawanet): each legal encoding is refused as a code, never a crash."""
    suite = load_json("msgpack-test-suite/msgpack-test-suite.json")
    count = 0
    for group in suite.values():
        for entry in group:
            for hexed in entry["msgpack"]:
                raw = bytes.fromhex(hexed.replace("-", ""))
                with pytest.raises(Malformed):
                    decode_code(raw)
                count += 1
    assert count == 233
