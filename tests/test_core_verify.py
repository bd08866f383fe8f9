"""The verification steps of SPEC §3.1, in order, with their boundaries pinned on both sides."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from factory import BJ, GD, HB, NOW, World
from gateway.core.crypto import generate_private_key
from gateway.core.model import Alg, Colour, IssuerCode, Reason, Status, Verdict
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.core.verify import verify
from gateway.core.wire import decode_code


@pytest.fixture(scope="module")
def world() -> World:
    return World.make()


def trust(
    world: World,
    *,
    revoked: bool = False,
    nbf: int = NOW - 3600,
    naf: int = NOW + 3600,
    issuers: Iterable[IssuerCode] = (GD, BJ, HB),
) -> TrustSnapshot:
    keys = [
        KeyRecord(i.iss, i.code_key.public, nbf, naf, revoked=revoked and i.iss == GD)
        for i in world.issuers.values()
    ]
    return TrustSnapshot.build(1, issuers, keys)


def check(
    world: World, raw: bytes, *, now: int = NOW, status: Status | None = None, **kw: Any
) -> Verdict:
    return verify(decode_code(raw), trust(world, **kw), now, status)


def test_a_good_code_is_valid_with_its_own_colour(world: World) -> None:
    v = check(world, world.code(GD, col=1))
    assert v.valid and v.reason is None and v.colour is Colour.YELLOW and v.status_sv is None


def test_an_empty_snapshot_accepts_nothing(world: World) -> None:
    v = verify(decode_code(world.code(GD)), TrustSnapshot.build(0, (), ()), NOW, None)
    assert v.reason is Reason.UNKNOWN_ISSUER


def test_an_issuer_not_enrolled_is_unknown(world: World) -> None:
    assert check(world, world.code(GD), issuers=(BJ,)).reason is Reason.UNKNOWN_ISSUER


def test_an_unregistered_kid_is_unknown(world: World) -> None:
    stranger = generate_private_key(Alg.ED25519)
    v = check(world, world.code(GD, key=stranger))
    assert v.reason is Reason.UNKNOWN_KID and v.iss == GD and v.kid == stranger.public.kid
    assert v.cid is None and v.colour is None


def test_a_kid_of_another_issuer_is_a_mismatch(world: World) -> None:
    raw = world.code(GD, key=world.issuers[HB].code_key)
    assert check(world, raw).reason is Reason.ISSUER_KEY_MISMATCH


def test_a_header_alg_other_than_the_keys_is_refused(world: World) -> None:
    from factory import claims, envelope, pack
    from gateway.core.model import Domain

    key = world.issuers[GD].code_key  # Ed25519, header claims ES256
    raw = envelope(Domain.CODE, key, pack(claims(GD)), alg=Alg.ES256)
    assert check(world, raw).reason is Reason.ALG_MISMATCH


def test_a_revoked_key_is_refused_before_its_signature_is_checked(world: World) -> None:
    assert check(world, world.code(GD), revoked=True).reason is Reason.KEY_REVOKED


@pytest.mark.parametrize(
    ("iat", "reason"),
    [
        (NOW - 3601, Reason.KEY_NOT_VALID),
        (NOW - 3600, None),
        (NOW + 3600, None),
        (NOW + 3601, Reason.KEY_NOT_VALID),
    ],
)
def test_iat_must_lie_within_the_keys_nbf_and_naf(
    world: World, iat: int, reason: Reason | None
) -> None:
    v = check(world, world.code(GD, iat=iat, exp=iat + 400), now=iat)
    assert v.reason is reason


@pytest.mark.parametrize(("life", "reason"), [(86_400, None), (86_401, Reason.KEY_NOT_VALID)])
def test_a_code_lives_at_most_a_day(world: World, life: int, reason: Reason | None) -> None:
    assert check(world, world.code(GD, iat=NOW, exp=NOW + life)).reason is reason


def test_a_bad_signature_is_refused(world: World) -> None:
    raw = bytearray(world.code(GD))
    raw[-1] ^= 1
    assert check(world, bytes(raw)).reason is Reason.BAD_SIGNATURE


def test_a_tampered_payload_is_a_bad_signature(world: World) -> None:
    raw = world.code(GD, col=2)
    tampered = raw.replace(b"\x07\x02", b"\x07\x00", 1)
    assert tampered != raw
    assert check(world, tampered).reason is Reason.BAD_SIGNATURE


def test_a_code_signed_for_another_domain_does_not_verify(world: World) -> None:
    from factory import claims, envelope, pack
    from gateway.core.model import Domain

    admin_signed = envelope(Domain.ADMIN, world.issuers[GD].code_key, pack(claims(GD)))
    assert check(world, admin_signed).reason is Reason.BAD_SIGNATURE


def test_es256_codes_verify(world: World) -> None:
    assert check(world, world.code(BJ)).valid


@pytest.mark.parametrize(("skew", "reason"), [(300, None), (301, Reason.NOT_YET_VALID)])
def test_iat_may_run_at_most_300_s_ahead_of_the_hub(
    world: World, skew: int, reason: Reason | None
) -> None:
    v = check(world, world.code(GD, iat=NOW + skew, exp=NOW + skew + 60))
    assert v.reason is reason


@pytest.mark.parametrize(("now", "reason"), [(NOW + 299, None), (NOW + 300, Reason.EXPIRED)])
def test_a_code_is_expired_at_exp(world: World, now: int, reason: Reason | None) -> None:
    v = check(world, world.code(GD, iat=NOW, exp=NOW + 300), now=now)
    assert v.reason is reason


def test_an_expired_verdict_fills_cid_exp_nm_and_code_colour_only(world: World) -> None:
    v = check(world, world.code(GD, iat=NOW, exp=NOW + 1, col=2, nm="王*"), now=NOW + 1)
    assert (v.valid, v.reason, v.code_colour, v.nm, v.exp) == (
        False,
        Reason.EXPIRED,
        Colour.RED,
        "王*",
        NOW + 1,
    )
    assert v.cid is not None and v.colour is None and v.status_sv is None


@pytest.mark.parametrize(
    ("stored_sv", "expected"), [(4, Colour.GREEN), (5, Colour.RED), (6, Colour.RED)]
)
def test_a_status_at_least_as_new_as_the_code_decides_the_colour(
    world: World, stored_sv: int, expected: Colour
) -> None:
    v = check(world, world.code(GD, col=0, sv=5), status=Status(Colour.RED, stored_sv))
    assert v.valid and v.colour is expected and v.code_colour is Colour.GREEN
    assert v.status_sv == stored_sv
