"""Management messages over HTTP (SPEC §4): keys, revocation, statuses, marks, trust list."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import msgpack
import pytest

from factory import BJ, GD, HB, MSGPACK, NOW, TRUST_TOKEN, bearer, envelope, pack
from gateway.core.crypto import (
    PrivateKey,
    generate_private_key,
    load_public_key,
    verify_signature,
)
from gateway.core.model import Alg, Domain
from gateway.core.wire import decode_envelope, encode_b64url
from hubtest import HubClient, MakeHub
from vectors import load_json


@pytest.fixture
async def hub(make_hub: MakeHub) -> HubClient:
    return await make_hub()


async def post(hub: HubClient, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    r = await hub.post(path, data=body, headers=MSGPACK)
    answer: dict[str, Any] = await r.json()
    return r.status, answer


async def add(hub: HubClient, iss: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    return await post(hub, f"/v1/issuers/{iss}/keys", hub.world.key_add(iss, **kw))


async def verify(hub: HubClient, raw: bytes) -> dict[str, Any]:
    r = await hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK})
    verdict: dict[str, Any] = await r.json()
    return verdict


class TestKeyAdd:
    async def test_a_registered_key_answers_201_with_its_kid_and_codes_verify(
        self, hub: HubClient
    ) -> None:
        status, body = await add(hub, GD)
        assert status == 201
        assert body == {"kid": encode_b64url(hub.world.issuers[GD].code_key.public.kid)}
        assert (await verify(hub, hub.world.code(GD)))["valid"] is True

    async def test_a_kid_already_registered_is_409_even_for_another_issuer(
        self, hub: HubClient
    ) -> None:
        await add(hub, GD)
        assert (await add(hub, GD))[1]["error"] == "kid_collision"
        status, body = await add(hub, BJ, key=hub.world.issuers[GD].code_key)
        assert (status, body["error"]) == (409, "kid_collision")
        kid = hub.world.issuers[GD].code_key.public.kid
        assert encode_b64url(kid) in body["detail"]  # spelled as in verdicts, not in hex

    async def test_a_key_whose_algorithm_is_not_alg_is_422_invalid_key(
        self, hub: HubClient
    ) -> None:
        w = hub.world
        body = w.message(
            GD, "key.add", alg="ES256", spki=_spki(w.issuers[GD].code_key), nbf=0, naf=NOW + 10
        )
        assert await post(hub, f"/v1/issuers/{GD}/keys", body) == (422, _err("invalid_key"))
        body = w.message(GD, "key.add", alg="Ed25519", spki=b"\x30\x00", nbf=0, naf=NOW + 10)
        assert (await post(hub, f"/v1/issuers/{GD}/keys", body))[0] == 422

    async def test_small_order_ed25519_keys_are_422_weak_key(self, hub: HubClient) -> None:
        for case in load_json("ed25519-small-order/ed25519_small_order_keys.json")["keys"]:
            spki = bytes.fromhex("302a300506032b6570032100") + bytes.fromhex(case["publicKey"])
            body = hub.world.message(GD, "key.add", alg="Ed25519", spki=spki, nbf=0, naf=NOW + 10)
            status, answer = await post(hub, f"/v1/issuers/{GD}/keys", body)
            assert (status, answer["error"]) == (422, "weak_key")

    async def test_naf_not_after_nbf_is_400(self, hub: HubClient) -> None:
        assert (await add(hub, GD, nbf=NOW, naf=NOW))[0] == 400


class TestChecksInOrder:
    async def test_an_issuer_not_enrolled_is_404_after_size_and_type(self, hub: HubClient) -> None:
        assert (await post(hub, "/v1/issuers/999999/keys", b"junk"))[1]["error"] == "not_found"
        r = await hub.post(
            "/v1/issuers/999999/keys", data=b"x", headers={"Content-Type": "text/plain"}
        )
        assert r.status == 415
        r = await hub.get("/v1/issuers/999999/status/mark")
        assert r.status == 404

    async def test_a_broken_envelope_is_400(self, hub: HubClient) -> None:
        assert (await post(hub, f"/v1/issuers/{GD}/keys", b"\x93\xc4"))[1]["error"] == "bad_request"

    async def test_an_unknown_upload_kid_or_a_bad_signature_is_403(self, hub: HubClient) -> None:
        stranger = generate_private_key(Alg.ED25519)
        body = hub.world.key_add(GD, upload=stranger)
        assert (await post(hub, f"/v1/issuers/{GD}/keys", body))[1]["error"] == "bad_signature"
        tampered = bytearray(hub.world.key_add(GD))
        tampered[-1] ^= 0x55
        assert (await post(hub, f"/v1/issuers/{GD}/keys", bytes(tampered)))[1][
            "error"
        ] == "bad_signature"

    async def test_a_code_signature_domain_does_not_authenticate_a_message(
        self, hub: HubClient
    ) -> None:
        payload = pack(
            {"typ": "key.revoke", "iss": GD, "iat": NOW, "nonce": os.urandom(16), "kid": b"k" * 8}
        )
        body = envelope(Domain.CODE, hub.world.issuers[GD].upload, payload)
        assert (await post(hub, f"/v1/issuers/{GD}/keys/revoke", body))[1][
            "error"
        ] == "bad_signature"

    async def test_unknown_payload_keys_must_hold_scalars(self, hub: HubClient) -> None:
        ok = hub.world.key_add(GD, note="rotation 3")
        assert (await post(hub, f"/v1/issuers/{GD}/keys", ok))[0] == 201
        nested = hub.world.key_add(HB, note=[[[1]]])
        assert (await post(hub, f"/v1/issuers/{HB}/keys", nested))[0] == 400

    async def test_a_payload_of_the_wrong_typ_or_shape_is_400(self, hub: HubClient) -> None:
        body = hub.world.message(GD, "status", seq=1, events=[])
        assert (await post(hub, f"/v1/issuers/{GD}/keys", body))[0] == 400
        body = hub.world.message(GD, "key.add", alg="Ed25519")
        assert (await post(hub, f"/v1/issuers/{GD}/keys", body))[0] == 400

    async def test_another_issuers_upload_key_or_path_is_403_issuer_scope(
        self, hub: HubClient
    ) -> None:
        body = hub.world.key_add(GD)  # signed by GD's upload key, posted under BJ
        assert (await post(hub, f"/v1/issuers/{BJ}/keys", body))[1]["error"] == "issuer_scope"
        body = hub.world.message(
            BJ,
            "key.add",
            upload=hub.world.issuers[GD].upload,
            alg="Ed25519",
            spki=_spki(hub.world.issuers[GD].code_key),
            nbf=0,
            naf=NOW + 10,
        )
        assert (await post(hub, f"/v1/issuers/{GD}/keys", body))[1]["error"] == "issuer_scope"

    @pytest.mark.parametrize(
        ("skew", "ok"), [(-300, True), (300, True), (-301, False), (301, False)]
    )
    async def test_iat_must_be_within_300_s(self, hub: HubClient, skew: int, ok: bool) -> None:
        status, body = await add(hub, GD, now=NOW + skew)
        assert status == 201 if ok else (status, body["error"]) == (400, "bad_timestamp")

    async def test_a_replayed_message_is_409_and_a_rejected_one_keeps_its_nonce(
        self, hub: HubClient
    ) -> None:
        body = hub.world.key_add(GD)
        assert (await post(hub, f"/v1/issuers/{GD}/keys", body))[0] == 201
        assert (await post(hub, f"/v1/issuers/{GD}/keys", body))[1]["error"] == "replay"
        w = hub.world
        bad = w.message(
            HB, "key.add", alg="Ed25519", spki=_spki(w.issuers[HB].code_key), nbf=NOW, naf=NOW
        )
        assert (await post(hub, f"/v1/issuers/{HB}/keys", bad))[0] == 400
        assert (await post(hub, f"/v1/issuers/{HB}/keys", bad))[0] == 400  # not a replay


class TestRevoke:
    async def test_after_200_to_a_revocation_the_next_scan_is_key_revoked(
        self, hub: HubClient
    ) -> None:
        await add(hub, GD)
        raw = hub.world.code(GD)
        assert (await verify(hub, raw))["valid"] is True  # now cached in both layers
        kid = hub.world.issuers[GD].code_key.public.kid
        status, body = await post(
            hub, f"/v1/issuers/{GD}/keys/revoke", hub.world.message(GD, "key.revoke", kid=kid)
        )
        assert (status, body) == (200, {"kid": encode_b64url(kid), "revoked": True})
        assert (await verify(hub, raw))["reason"] == "KEY_REVOKED"
        again = hub.world.message(GD, "key.revoke", kid=kid)
        assert (await post(hub, f"/v1/issuers/{GD}/keys/revoke", again))[0] == 200

    async def test_revoking_a_kid_the_issuer_does_not_hold_is_404(self, hub: HubClient) -> None:
        await add(hub, GD)
        kid = hub.world.issuers[GD].code_key.public.kid
        status, body = await post(
            hub, f"/v1/issuers/{HB}/keys/revoke", hub.world.message(HB, "key.revoke", kid=kid)
        )
        assert (status, body["error"]) == (404, "not_found")
        assert encode_b64url(kid) in body["detail"] and kid.hex() not in body["detail"]
        assert (await verify(hub, hub.world.code(GD)))["valid"] is True


class TestStatus:
    async def test_events_apply_by_sv_and_the_mark_advances(self, hub: HubClient) -> None:
        await add(hub, GD)
        sub = hashlib.sha256(b"resident-1").digest()[:16]
        raw = hub.world.code(GD, sub=sub, col=0, sv=1)
        assert (await verify(hub, raw))["colour"] == "green"
        msg = hub.world.status(GD, [[sub, 2, 2, NOW], [sub, 1, 1, NOW]])
        assert await post(hub, f"/v1/issuers/{GD}/status", msg) == (200, {"applied": 1, "mark": 1})
        v = await verify(hub, raw)
        assert (v["colour"], v["code_colour"], v["status_sv"]) == ("red", "green", 2)
        r = await hub.get(f"/v1/issuers/{GD}/status/mark")
        assert await r.json() == {"mark": 1}

    async def test_a_status_older_than_the_code_does_not_override_it(self, hub: HubClient) -> None:
        await add(hub, GD)
        sub = os.urandom(16)
        await post(hub, f"/v1/issuers/{GD}/status", hub.world.status(GD, [[sub, 2, 3, NOW]]))
        v = await verify(hub, hub.world.code(GD, sub=sub, col=1, sv=4))
        assert (v["colour"], v["status_sv"]) == ("yellow", 3)

    async def test_stale_seq_and_gaps_are_409_with_the_mark(self, hub: HubClient) -> None:
        assert await post(hub, f"/v1/issuers/{BJ}/status", hub.world.status(BJ, [], seq=1)) == (
            200,
            {"applied": 0, "mark": 1},
        )
        assert await post(hub, f"/v1/issuers/{BJ}/status", hub.world.status(BJ, [], seq=1)) == (
            409,
            _err("stale_seq", mark=1),
        )
        assert await post(hub, f"/v1/issuers/{BJ}/status", hub.world.status(BJ, [], seq=3)) == (
            409,
            _err("seq_gap", mark=1),
        )

    @pytest.mark.parametrize(
        "event",
        [
            [b"s" * 15, 0, 1, NOW],
            [b"s" * 16, 3, 1, NOW],
            [b"s" * 16, 0, -1, NOW],
            [b"s" * 16, 0, 1],
            [b"s" * 16, True, 1, NOW],
        ],
    )
    async def test_one_bad_event_makes_the_whole_message_400(
        self, hub: HubClient, event: list[object]
    ) -> None:
        good = [os.urandom(16), 1, 1, NOW]
        status, _ = await post(
            hub, f"/v1/issuers/{GD}/status", hub.world.status(GD, [good, event], seq=1)
        )
        assert status == 400
        assert await (await hub.get(f"/v1/issuers/{GD}/status/mark")).json() == {"mark": 0}

    async def test_seq_0_is_400(self, hub: HubClient) -> None:
        assert (await post(hub, f"/v1/issuers/{GD}/status", hub.world.status(GD, [], seq=0)))[
            0
        ] == 400


class TestTrustList:
    async def test_the_signed_list_verifies_under_the_hubs_key_and_has_an_etag(
        self, hub: HubClient
    ) -> None:
        await add(hub, GD)
        await add(hub, BJ)
        key_doc = await (await hub.get("/v1/trustlist/key")).json()
        import base64

        spki = base64.urlsafe_b64decode(key_doc["spki"] + "==")
        hub_key = load_public_key(key_doc["alg"], spki)
        r = await hub.get(
            "/v1/trustlist", headers=bearer(TRUST_TOKEN), skip_auto_headers=["Accept"]
        )
        assert r.status == 200 and r.content_type == "application/msgpack"
        raw = await r.read()
        env = decode_envelope(raw, Domain.TRUST)
        assert verify_signature(hub_key, env.signed, env.signature)
        doc = msgpack.unpackb(env.payload)
        assert doc["version"] == 3 and doc["exp"] == doc["iat"] + 3600 and doc["iat"] == NOW
        assert sorted(doc["issuers"]) == sorted([GD, BJ, HB])
        assert [(k["iss"], k["revoked"]) for k in doc["keys"]] == sorted([(BJ, False), (GD, False)])
        etag = r.headers["ETag"]
        r2 = await hub.get("/v1/trustlist", headers={**bearer(TRUST_TOKEN), "If-None-Match": etag})
        assert r2.status == 304
        await add(hub, HB)
        r3 = await hub.get("/v1/trustlist", headers={**bearer(TRUST_TOKEN), "If-None-Match": etag})
        assert r3.status == 200 and r3.headers["ETag"] != etag

    async def test_a_list_another_hub_key_signed_is_signed_anew(
        self, make_hub: MakeHub, redis_url: str
    ) -> None:
        """The trust key changed (its file lost, or rotated) while Redis kept the list the old
        key signed: /v1/trustlist must verify under /v1/trustlist/key at once, not after the
        registry moves or half the list's life (1,800 s) has passed."""
        old = await make_hub(url=redis_url)
        await add(old, GD)
        stale = await (await old.get("/v1/trustlist", headers=bearer(TRUST_TOKEN))).read()
        new = await make_hub(old.world, old.clock, url=redis_url)  # another generated hub key
        key_doc = await (await new.get("/v1/trustlist/key")).json()
        hub_key = load_public_key(key_doc["alg"], base64.urlsafe_b64decode(key_doc["spki"] + "=="))
        r = await new.get("/v1/trustlist", headers=bearer(TRUST_TOKEN))
        raw = await r.read()
        env = decode_envelope(raw, Domain.TRUST)
        assert raw != stale and env.kid == hub_key.kid
        assert verify_signature(hub_key, env.signed, env.signature)
        assert (
            msgpack.unpackb(env.payload)["version"]
            == msgpack.unpackb(decode_envelope(stale, Domain.TRUST).payload)["version"]
        )  # the same registry, signed by the key the hub now has


def _spki(key: PrivateKey) -> bytes:
    from gateway.core.crypto import spki_of

    return spki_of(key)


def _err(code: str, **extra: object) -> object:
    """A matcher, typed ``object`` as it is compared with whatever the hub answered."""
    return _Err(code, extra)


class _Err:
    """Equal to an error body with this code and these extra fields, whatever its detail."""

    def __init__(self, code: str, extra: dict[str, object]) -> None:
        self.code, self.extra = code, extra

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, dict)
            and set(other) == {"error", "detail", *self.extra}
            and other["error"] == self.code
            and all(other[k] == v for k, v in self.extra.items())
        )

    def __repr__(self) -> str:
        return f"<error {self.code} {self.extra}>"
