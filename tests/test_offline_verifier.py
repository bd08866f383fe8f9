"""The offline verifier (SPEC §6) against a real hub: its signed list under the pinned key,
never an older one, and offline verdicts that equal the hub's online ones but for statuses."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)
from pytest_aiohttp import AiohttpClient

from factory import BJ, GD, MSGPACK, NOW, TRUST_TOKEN, bearer, claims, envelope, pack
from gateway.core.crypto import generate_private_key, private_key_from_seed
from gateway.core.model import Alg, Domain
from gateway.core.wire import encode_text
from gateway.offline.verifier import (
    WHY_MALFORMED,
    WHY_OLDER,
    WHY_SIGNER,
    KeyRefused,
    ListRefused,
    NothingHeld,
    OfflineVerifier,
    age,
    hub_key_from_spki,
    key_doc,
    read_hub_key,
)
from gateway.web.app import create_app
from hubtest import Clock, HubClient, MakeHub
from vectors import load_json

SPEC_FIELDS = (
    "valid", "reason", "iss", "kid", "cid", "colour", "code_colour", "status_sv", "exp", "nm",
)  # fmt: skip
SUB = hashlib.sha256(b"subject").digest()[:16]  # the factory's default subject


@pytest.fixture
async def hub(make_hub: MakeHub) -> HubClient:
    hub = await make_hub()
    for iss in (GD, BJ):
        assert (await add(hub, iss)) == 201
    return hub


async def add(hub: HubClient, iss: str, **kw: Any) -> int:
    body = hub.world.key_add(iss, **kw)
    r = await hub.post(f"/v1/issuers/{iss}/keys", data=body, headers=MSGPACK)
    return r.status


async def trust_list(hub: HubClient) -> bytes:
    r = await hub.get("/v1/trustlist", headers=bearer(TRUST_TOKEN))
    assert r.status == 200
    return await r.read()


async def terminal(hub: HubClient) -> OfflineVerifier:
    """A terminal that pinned the hub's key from /v1/trustlist/key and fetched its list."""
    r = await hub.get("/v1/trustlist/key")
    verifier = OfflineVerifier(read_hub_key(await r.read()))
    verifier.offer(await trust_list(hub))
    return verifier


async def online(hub: HubClient, code: bytes) -> dict[str, Any]:
    r = await hub.post("/v1/verify", data=code, headers={**bearer(), **MSGPACK})
    assert r.status == 200
    verdict: dict[str, Any] = await r.json()
    return verdict


class TestTrustList:
    async def test_a_fetched_list_verifies_under_the_pinned_key_and_says_how_old_it_is(
        self, hub: HubClient
    ) -> None:
        verifier = await terminal(hub)
        held = verifier.held
        assert held is not None
        assert (held.version, held.iat, held.exp) == (3, NOW, NOW + 3600)
        assert held.trust.issuers == {GD, BJ, "420000"}
        assert {k.iss for k in held.trust.keys.values()} == {GD, BJ}
        assert (age(held, NOW + 60).seconds, age(held, NOW + 60).expires_in) == (60, 3540)
        assert not age(held, NOW + 3599).stale and age(held, NOW + 3600).stale

    async def test_an_older_list_is_refused_and_the_newer_one_kept(self, hub: HubClient) -> None:
        verifier = await terminal(hub)
        old = await trust_list(hub)
        hub.world.issuers[GD].code_key = generate_private_key(Alg.ED25519)
        assert await add(hub, GD) == 201
        newer = verifier.offer(await trust_list(hub))
        assert newer.version == 4
        with pytest.raises(ListRefused) as refused:
            verifier.offer(old)  # a replayed copy from before the new key
        assert refused.value.why == WHY_OLDER and "version 3, older than version 4" in str(
            refused.value
        )
        assert verifier.held is newer

    async def test_the_same_version_signed_earlier_is_an_older_copy(self, hub: HubClient) -> None:
        verifier = await terminal(hub)
        first = await trust_list(hub)
        hub.clock.now += 1801  # the hub re-signs after half the list's life
        resigned = verifier.offer(await trust_list(hub))
        assert (resigned.version, resigned.iat) == (3, NOW + 1801)
        with pytest.raises(ListRefused) as refused:
            verifier.offer(first)
        assert refused.value.why == WHY_OLDER and "older copy of version 3" in str(refused.value)

    async def test_a_list_signed_by_another_hub_key_is_refused(
        self, hub: HubClient, make_hub: MakeHub
    ) -> None:
        verifier = await terminal(hub)
        other = await make_hub(hub.world)  # the same registry in Redis, another trust key
        hub.world.issuers[GD].code_key = generate_private_key(Alg.ED25519)
        assert await add(other, GD) == 201  # so the other hub signs the next list, version 4
        with pytest.raises(ListRefused) as refused:
            verifier.offer(await trust_list(other))
        assert refused.value.why == WHY_SIGNER and "not by the pinned hub key" in str(refused.value)

    async def test_a_tampered_list_is_refused(self, hub: HubClient) -> None:
        verifier = await terminal(hub)
        held = verifier.held
        signed = await trust_list(hub)
        revoked = signed.replace(b"\xa7revoked\xc2", b"\xa7revoked\xc3", 1)  # false -> true
        assert revoked != signed and len(revoked) == len(signed)
        for tampered, why in ((revoked, WHY_SIGNER), (signed[:-1], WHY_MALFORMED)):
            with pytest.raises(ListRefused) as refused:
                verifier.offer(tampered)
            assert refused.value.why == why
        assert verifier.held is held

    async def test_a_verifier_with_no_list_refuses_to_answer(self, hub: HubClient) -> None:
        r = await hub.get("/v1/trustlist/key")
        with pytest.raises(NothingHeld):
            OfflineVerifier(read_hub_key(await r.read())).verify(hub.world.code(GD), NOW)


class TestOfflineVerdicts:
    async def test_each_reason_equals_the_hubs_online_verdict_and_says_offline(
        self, hub: HubClient
    ) -> None:
        w = hub.world
        gd_key = w.issuers[GD].code_key
        revoked = generate_private_key(Alg.ED25519)
        assert await add(hub, GD, key=revoked) == 201
        revoke = w.message(GD, "key.revoke", kid=revoked.public.kid)
        r = await hub.post(f"/v1/issuers/{GD}/keys/revoke", data=revoke, headers=MSGPACK)
        assert r.status == 200
        valid = w.code(GD)
        codes = {
            "valid Ed25519": valid,
            "valid ES256": w.code(BJ, col=1),
            "MALFORMED": b"\x93junk",
            "UNKNOWN_ISSUER": w.code("990000", key=gd_key),
            "ISSUER_KEY_MISMATCH": w.code(BJ, key=gd_key),
            "UNKNOWN_KID": w.code(GD, key=generate_private_key(Alg.ED25519)),
            "ALG_MISMATCH": envelope(Domain.CODE, gd_key, pack(claims(GD)), alg=Alg.ES256),
            "KEY_REVOKED": w.code(GD, key=revoked),
            "KEY_NOT_VALID": w.code(GD, exp=NOW + 86_401),
            "BAD_SIGNATURE": valid[:-1] + bytes([valid[-1] ^ 1]),
            "NOT_YET_VALID": w.code(GD, iat=NOW + 301),
            "EXPIRED": w.code(GD, iat=NOW - 600, exp=NOW),
        }
        verifier = await terminal(hub)
        for name, code in codes.items():
            want = await online(hub, code)
            assert want["reason"] == (None if name.startswith("valid") else name)
            for form in (code, encode_text(code)):
                got = verifier.verify(form, NOW)
                assert list(got)[:10] == list(SPEC_FIELDS)
                assert {k: got[k] for k in SPEC_FIELDS} == want, name
                assert got["offline"] is True and got["status_checked"] is False
                assert (got["trust_list_version"], got["stale"]) == (5, False)

    async def test_a_status_the_hub_holds_is_what_offline_cannot_see(self, hub: HubClient) -> None:
        code = hub.world.code(GD, col=0, sv=1)
        push = hub.world.status(GD, [[SUB, 2, 5, NOW]])
        r = await hub.post(f"/v1/issuers/{GD}/status", data=push, headers=MSGPACK)
        assert r.status == 200
        want = await online(hub, code)
        got = (await terminal(hub)).verify(code, NOW)
        assert (want["colour"], want["status_sv"]) == ("red", 5)
        assert (got["colour"], got["status_sv"], got["status_checked"]) == ("green", None, False)
        differ = {k for k in SPEC_FIELDS if got[k] != want[k]}
        assert differ == {"colour", "status_sv"}

    async def test_a_stale_list_still_verifies_and_says_it_is_stale(self, hub: HubClient) -> None:
        verifier = await terminal(hub)
        code = hub.world.code(GD, iat=NOW + 3000, exp=NOW + 4000)
        fresh, stale = verifier.verify(code, NOW + 3599), verifier.verify(code, NOW + 3600)
        assert fresh["valid"] and stale["valid"]
        assert (fresh["stale"], stale["stale"]) == (False, True)


class TestHubKey:
    def test_small_order_ed25519_keys_are_never_pinned(self) -> None:
        prefix = bytes.fromhex("302a300506032b6570032100")
        cases = load_json("ed25519-small-order/ed25519_small_order_keys.json")["keys"]
        assert len(cases) == 14
        for case in cases:
            with pytest.raises(KeyRefused):
                hub_key_from_spki(prefix + bytes.fromhex(case["publicKey"]))

    def test_a_key_is_read_from_json_pem_der_or_base64url(self) -> None:
        key = generate_private_key(Alg.ES256).public
        pem = load_der_public_key(key.spki).public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
        doc = key_doc(key)
        for given in (json.dumps(doc).encode(), pem, key.spki, doc["spki"].encode()):
            assert read_hub_key(given).spki == key.spki
        for junk in (b"", b"{}", b"not a key", b"\x30\x03\x02\x01\x00"):
            with pytest.raises(KeyRefused):
                read_hub_key(junk)


async def test_a_hub_whose_key_is_rfc8032s_test_1_is_pinned_from_the_published_key(
    redis_url: str, aiohttp_client: AiohttpClient, make_hub: MakeHub
) -> None:
    """The pin comes from the RFC's public key alone, not from anything the hub says."""
    (test1,) = [
        v for v in load_json("rfc8032/ed25519_rfc8032_7_1.json")["tests"] if v["name"] == "TEST 1"
    ]
    hub_key = private_key_from_seed(bytes.fromhex(test1["secretKey"]))
    donor = await make_hub()  # a world and settings of the usual shape
    app = create_app(donor.world.settings(), redis_url=redis_url, hub_key=hub_key, clock=Clock())
    client = await aiohttp_client(app)
    pinned = hub_key_from_spki(bytes.fromhex("302a300506032b6570032100" + test1["publicKey"]))
    r = await client.get("/v1/trustlist", headers=bearer(TRUST_TOKEN))
    held = OfflineVerifier(pinned).offer(await r.read())
    assert held.version == 1 and held.iat == NOW
