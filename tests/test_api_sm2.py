"""SM2 through the whole hub (SPEC §2, §4, §6; issue 15): an issuer whose upload key and code
keys are SM2 registers, verifies, revokes, and finds its keys in the signed trust list, on one
Redis and on the cluster (every ``test_api_*`` module runs on both)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest
from pytest_aiohttp import AiohttpClient

from factory import GD, HB, MSGPACK, TRUST_TOKEN, Issuer, World, bearer, claims, envelope, pack
from gateway.core.crypto import generate_private_key
from gateway.core.model import Alg, Domain
from gateway.core.wire import decode_envelope, encode_b64url
from hubtest import HubClient, MakeHub


def sm2_world() -> World:
    """Guangdong signs with SM2 (upload and code keys); Hubei stays Ed25519."""
    world = World()
    world.issuers[GD] = Issuer(GD, generate_private_key(Alg.SM2), generate_private_key(Alg.SM2))
    world.issuers[HB] = Issuer(
        HB, generate_private_key(Alg.ED25519), generate_private_key(Alg.ED25519)
    )
    return world


@pytest.fixture
async def hub(make_hub: MakeHub) -> HubClient:
    hub = await make_hub(sm2_world())
    for iss in (GD, HB):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=hub.world.key_add(iss), headers=MSGPACK)
        assert r.status == 201, await r.text()
    return hub


async def verify(hub: HubClient, raw: bytes) -> dict[str, Any]:
    r = await hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK})
    assert r.status == 200
    verdict: dict[str, Any] = await r.json()
    return verdict


async def test_an_sm2_code_verifies_and_a_tampered_one_does_not(hub: HubClient) -> None:
    body = await verify(hub, hub.world.code(GD, col=1))
    kid = hub.world.issuers[GD].code_key.public.kid
    assert body["valid"] is True and body["colour"] == "yellow"
    assert body["kid"] == encode_b64url(kid)
    raw = bytearray(hub.world.code(GD))
    raw[-1] ^= 1  # the signature's last byte
    assert (await verify(hub, bytes(raw)))["reason"] == "BAD_SIGNATURE"


async def test_an_sm2_code_is_cached_like_any_other(hub: HubClient) -> None:
    raw = hub.world.code(GD)
    first, second = await verify(hub, raw), await verify(hub, raw)
    assert first == second and first["valid"] is True
    local = hub.hub.metrics.registry.get_sample_value(
        "hcgw_cache_total", {"layer": "local", "outcome": "hit"}
    )
    assert local == 1


async def test_a_header_alg_that_is_not_the_sm2_keys_is_alg_mismatch(hub: HubClient) -> None:
    key = hub.world.issuers[GD].code_key  # the SM2 key signs; only the header says ES256
    for alg in (Alg.ES256, Alg.ED25519):
        forged = envelope(Domain.CODE, key, pack(claims(GD)), alg=alg)
        assert (await verify(hub, forged))["reason"] == "ALG_MISMATCH"


async def test_an_sm2_key_revoked_is_key_revoked(hub: HubClient) -> None:
    kid = hub.world.issuers[GD].code_key.public.kid
    r = await hub.post(
        f"/v1/issuers/{GD}/keys/revoke",
        data=hub.world.message(GD, "key.revoke", kid=kid),
        headers=MSGPACK,
    )
    assert r.status == 200 and (await r.json()) == {"kid": encode_b64url(kid), "revoked": True}
    assert (await verify(hub, hub.world.code(GD)))["reason"] == "KEY_REVOKED"


async def test_a_management_message_under_another_sm2_key_is_bad_signature(hub: HubClient) -> None:
    stranger = generate_private_key(Alg.SM2)
    message = hub.world.message(GD, "key.revoke", kid=b"\x00" * 8, upload=stranger)
    r = await hub.post(f"/v1/issuers/{GD}/keys/revoke", data=message, headers=MSGPACK)
    assert r.status == 403 and (await r.json())["error"] == "bad_signature"


@pytest.mark.parametrize("bad", ["compressed", "p256-as-sm2"])
async def test_a_key_add_with_a_non_canonical_or_foreign_sm2_key_is_invalid_key(
    hub: HubClient, bad: str
) -> None:
    spki = generate_private_key(Alg.SM2).public.spki
    if bad == "compressed":
        spki = (
            bytes.fromhex("3039301306072A8648CE3D020106082A811CCF5501822D032200")
            + bytes([2 + (spki[-1] & 1)])
            + spki[-64:-32]
        )
    else:
        spki = generate_private_key(Alg.ES256).public.spki
    message = hub.world.message(GD, "key.add", alg="SM2", spki=spki, nbf=0, naf=2**40)
    r = await hub.post(f"/v1/issuers/{GD}/keys", data=message, headers=MSGPACK)
    assert r.status == 422 and (await r.json())["error"] == "invalid_key"


async def test_the_trust_list_carries_the_sm2_key(hub: HubClient) -> None:
    r = await hub.get("/v1/trustlist", headers=bearer(TRUST_TOKEN))
    doc = msgpack.unpackb(decode_envelope(await r.read(), Domain.TRUST).payload)
    by_iss = {k["iss"]: k for k in doc["keys"]}
    assert by_iss[GD]["alg"] == "SM2" and by_iss[GD]["spki"] == (
        hub.world.issuers[GD].code_key.public.spki
    )
    assert by_iss[HB]["alg"] == "Ed25519"


async def test_a_hub_whose_trust_list_key_is_sm2_signs_a_list_that_verifies_under_it(
    redis_url: str, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    """SPEC §6 leaves the hub's own alg open; ``trust_key`` may hold an SM2 PEM."""
    import base64

    from gateway.core.crypto import load_public_key, private_key_to_pem, verify_signature
    from gateway.keyfile import load_or_create_hub_key
    from gateway.web.app import create_app

    path = tmp_path / "hub-trust-key.pem"
    path.write_bytes(private_key_to_pem(generate_private_key(Alg.SM2)))
    hub_key = load_or_create_hub_key(path)
    assert hub_key.alg is Alg.SM2
    world = sm2_world()
    client = await aiohttp_client(
        create_app(world.settings(), redis_url=redis_url, hub_key=hub_key)
    )
    doc = await (await client.get("/v1/trustlist/key")).json()
    assert doc["alg"] == "SM2"
    spki = base64.urlsafe_b64decode(doc["spki"] + "==")
    r = await client.get("/v1/trustlist", headers=bearer(TRUST_TOKEN))
    envelope = decode_envelope(await r.read(), Domain.TRUST)
    assert verify_signature(load_public_key("SM2", spki), envelope.signed, envelope.signature)
