"""The verification API over real HTTP and a real Redis (SPEC §3, §5, §7)."""

from __future__ import annotations

import io
import json
from typing import Any

import msgpack
import pytest

from factory import (
    BJ,
    GD,
    HB,
    MSGPACK,
    NOSCOPE_TOKEN,
    NOW,
    SLOW_TOKEN,
    bearer,
)
from gateway.core.wire import encode_b64url, encode_text
from hubtest import HubClient, MakeHub


async def register_all(hub: HubClient) -> None:
    for iss in (GD, BJ, HB):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=hub.world.key_add(iss), headers=MSGPACK)
        assert r.status == 201, await r.text()


@pytest.fixture
async def hub(make_hub: MakeHub) -> HubClient:
    hub = await make_hub()
    await register_all(hub)
    return hub


async def verify(hub: HubClient, raw: bytes, **headers: str) -> dict[str, Any]:
    r = await hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK, **headers})
    assert r.status == 200, await r.text()
    verdict: dict[str, Any] = await r.json()
    return verdict


async def test_a_valid_code_gets_a_full_verdict(hub: HubClient) -> None:
    raw = hub.world.code(GD, col=1, sv=3, nm="张*")
    v = await verify(hub, raw)
    assert v["valid"] is True and v["reason"] is None
    assert (v["iss"], v["colour"], v["code_colour"], v["status_sv"], v["nm"]) == (
        GD,
        "yellow",
        "yellow",
        None,
        "张*",
    )
    assert v["kid"] == encode_b64url(hub.world.issuers[GD].code_key.public.kid)
    assert v["exp"] == NOW + 300 and len(v["cid"]) == 22
    assert set(v) == {
        "valid",
        "reason",
        "iss",
        "kid",
        "cid",
        "colour",
        "code_colour",
        "status_sv",
        "exp",
        "nm",
    }


async def test_text_and_json_bodies_verify_like_msgpack(hub: HubClient) -> None:
    raw = hub.world.code(BJ)
    text = encode_text(raw)
    for body, kind in (
        (text, "text/plain"),
        (text + "\n", "text/plain; charset=utf-8"),
        (text + "\r\n", "TEXT/PLAIN"),
        (json.dumps({"code": text}), "application/json"),
    ):
        r = await hub.post("/v1/verify", data=body, headers={**bearer(), "Content-Type": kind})
        assert (await r.json())["valid"] is True, kind


async def test_text_with_two_newlines_is_malformed(hub: HubClient) -> None:
    text = encode_text(hub.world.code(GD)) + "\n\n"
    r = await hub.post("/v1/verify", data=text, headers={**bearer(), "Content-Type": "text/plain"})
    assert (await r.json())["reason"] == "MALFORMED"


async def test_the_answer_is_msgpack_when_it_ranks_highest(hub: HubClient) -> None:
    raw = hub.world.code(GD)
    for accept, is_msgpack in (
        ("application/msgpack", True),
        ("application/json;q=0.5, application/msgpack", True),
        ("application/msgpack;q=0.1, application/json", False),
        ("*/*", False),
        ("*/*, application/msgpack", True),
    ):
        r = await hub.post(
            "/v1/verify", data=raw, headers={**bearer(), **MSGPACK, "Accept": accept}
        )
        body = await r.read()
        assert r.content_type == ("application/msgpack" if is_msgpack else "application/json"), (
            accept
        )
        v = msgpack.unpackb(body) if is_msgpack else json.loads(body)
        assert v["valid"] is True and isinstance(v["kid"], str)


async def test_a_malformed_code_fills_only_valid_and_reason(hub: HubClient) -> None:
    v = await verify(hub, b"\x93\xc4\x00")
    assert v == {
        "valid": False,
        "reason": "MALFORMED",
        "iss": None,
        "kid": None,
        "cid": None,
        "colour": None,
        "code_colour": None,
        "status_sv": None,
        "exp": None,
        "nm": None,
    }


async def test_a_code_over_1024_bytes_in_a_small_body_is_malformed(hub: HubClient) -> None:
    v = await verify(hub, b"\x00" * 2000)
    assert v["reason"] == "MALFORMED"


class TestBatch:
    async def test_verdicts_come_in_input_order_with_duplicates_and_non_codes(
        self, hub: HubClient
    ) -> None:
        good, expired = hub.world.code(GD), hub.world.code(BJ, iat=NOW - 600, exp=NOW - 1)
        body = msgpack.packb(
            [good, 5, expired, good, encode_text(good), None, {"a": 1}], use_bin_type=True
        )
        r = await hub.post("/v1/verify/batch", data=body, headers={**bearer(), **MSGPACK})
        out = await r.json()
        assert [v["valid"] for v in out] == [True, False, False, True, True, False, False]
        assert [v["reason"] for v in out] == [
            None,
            "MALFORMED",
            "EXPIRED",
            None,
            None,
            "MALFORMED",
            "MALFORMED",
        ]

    async def test_json_batches_and_the_empty_batch(self, hub: HubClient) -> None:
        text = encode_text(hub.world.code(HB))
        r = await hub.post(
            "/v1/verify/batch", json={"codes": [text, 7, "HCM1:@@"]}, headers=bearer()
        )
        assert [v["reason"] for v in await r.json()] == [None, "MALFORMED", "MALFORMED"]
        r = await hub.post("/v1/verify/batch", data=b"\x90", headers={**bearer(), **MSGPACK})
        assert await r.json() == []

    async def test_a_batch_of_1001_codes_is_413(self, hub: HubClient) -> None:
        body = msgpack.packb([b"x"] * 1001, use_bin_type=True)
        r = await hub.post("/v1/verify/batch", data=body, headers={**bearer(), **MSGPACK})
        assert r.status == 413 and (await r.json())["error"] == "batch_too_large"
        r = await hub.post("/v1/verify/batch", json={"codes": ["x"] * 1001}, headers=bearer())
        assert r.status == 413

    async def test_a_batch_of_1000_codes_is_answered(self, hub: HubClient) -> None:
        body = msgpack.packb([hub.world.code(GD)] * 1000, use_bin_type=True)
        r = await hub.post("/v1/verify/batch", data=body, headers={**bearer(), **MSGPACK})
        out = await r.json()
        assert len(out) == 1000 and all(v["valid"] for v in out)

    @pytest.mark.parametrize(
        "body", [b"\x80", b"\x91", b"\xc0", b"\x90\x00", b"\xdd\xff\xff", b"", b"\xc1"]
    )
    async def test_a_body_of_the_wrong_outer_shape_is_400(
        self, hub: HubClient, body: bytes
    ) -> None:
        r = await hub.post("/v1/verify/batch", data=body, headers={**bearer(), **MSGPACK})
        assert r.status == 400 and (await r.json())["error"] == "bad_request"

    async def test_a_length_header_claiming_gigabytes_is_refused_at_once(
        self, hub: HubClient
    ) -> None:
        r = await hub.post(
            "/v1/verify/batch", data=b"\xdd\xff\xff\xff\xff", headers={**bearer(), **MSGPACK}
        )
        assert r.status == 413


class TestAuth:
    async def test_a_missing_token_is_401(self, hub: HubClient) -> None:
        r = await hub.post("/v1/verify", data=hub.world.code(GD), headers=MSGPACK)
        assert r.status == 401 and (await r.json())["error"] == "unauthenticated"

    async def test_an_unknown_token_is_401_and_the_scheme_is_case_insensitive(
        self, hub: HubClient
    ) -> None:
        r = await hub.post(
            "/v1/verify", data=b"", headers={"Authorization": "Bearer nope", **MSGPACK}
        )
        assert r.status == 401
        token = bearer()["Authorization"].split()[1]
        r = await hub.post(
            "/v1/verify",
            data=hub.world.code(GD),
            headers={"Authorization": f"bEaReR {token}", **MSGPACK},
        )
        assert r.status == 200

    async def test_a_token_without_the_scope_is_403(self, hub: HubClient) -> None:
        r = await hub.post(
            "/v1/verify", data=hub.world.code(GD), headers={**bearer(NOSCOPE_TOKEN), **MSGPACK}
        )
        assert r.status == 403 and (await r.json())["error"] == "forbidden"
        # A token the hub has just accepted for verify (and remembers) still lacks trustlist.
        r = await hub.post("/v1/verify", data=hub.world.code(GD), headers={**bearer(), **MSGPACK})
        assert r.status == 200
        r = await hub.get("/v1/trustlist", headers=bearer())
        assert r.status == 403

    async def test_over_rate_is_429_with_retry_after(self, hub: HubClient) -> None:
        statuses = []
        for _ in range(6):  # rate 2/s, burst 4
            r = await hub.post(
                "/v1/verify", data=hub.world.code(GD), headers={**bearer(SLOW_TOKEN), **MSGPACK}
            )
            statuses.append(r.status)
        assert statuses[:4] == [200] * 4 and statuses[4] == 429
        assert int(r.headers["Retry-After"]) >= 1 and (await r.json())["error"] == "rate_limited"

    async def test_429_comes_before_413_415_and_400(self, hub: HubClient) -> None:
        for _ in range(4):
            await hub.post(
                "/v1/verify", data=hub.world.code(GD), headers={**bearer(SLOW_TOKEN), **MSGPACK}
            )
        for body, kind in (
            (b"x" * 5000, "application/msgpack"),
            (b"x", "image/png"),
            (b"{", "application/json"),
        ):
            r = await hub.post(
                "/v1/verify", data=body, headers={**bearer(SLOW_TOKEN), "Content-Type": kind}
            )
            assert r.status == 429, kind

    async def test_401_comes_before_404_no_route_and_405(self, hub: HubClient) -> None:
        r = await hub.get("/v1/verify")
        assert (
            r.status == 405
            and "POST" in r.headers["Allow"]
            and (await r.json())["error"] == "method_not_allowed"
        )
        r = await hub.post("/v1/nope")
        assert r.status == 404 and (await r.json())["error"] == "not_found"


class TestLimits:
    async def test_a_single_body_over_4_kib_is_413(self, hub: HubClient) -> None:
        r = await hub.post("/v1/verify", data=b"x" * 4097, headers={**bearer(), **MSGPACK})
        assert r.status == 413 and (await r.json())["error"] == "body_too_large"

    async def test_a_batch_body_over_2_mib_is_413(self, hub: HubClient) -> None:
        r = await hub.post(
            "/v1/verify/batch",
            data=io.BytesIO(b"x" * (2 * 1024 * 1024 + 1)),
            headers={**bearer(), **MSGPACK},
        )
        assert r.status == 413

    async def test_an_unknown_media_type_or_an_encoding_is_415(self, hub: HubClient) -> None:
        r = await hub.post(
            "/v1/verify", data=b"x", headers={**bearer(), "Content-Type": "image/png"}
        )
        assert r.status == 415 and (await r.json())["error"] == "unsupported_media_type"
        r = await hub.post(
            "/v1/verify",
            data=hub.world.code(GD),
            headers={**bearer(), **MSGPACK, "Content-Encoding": "gzip"},
        )
        assert r.status == 415

    async def test_json_that_does_not_parse_is_400(self, hub: HubClient) -> None:
        r = await hub.post(
            "/v1/verify", data=b"{", headers={**bearer(), "Content-Type": "application/json"}
        )
        assert r.status == 400
        r = await hub.post("/v1/verify", json={"code": 5}, headers=bearer())
        assert r.status == 400


JSON = {"Content-Type": "application/json"}


class TestStrictJson:
    """JSON bodies are read strictly (issue 10): never a 500, never a guess."""

    @pytest.mark.parametrize(
        ("route", "body"),
        [
            ("/v1/verify", b"[" * 2000),
            ("/v1/verify/batch", b'{"codes": ' + b"[" * 2000),
            ("/v1/verify/batch", b'{"codes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
            ("/v1/verify", b'{"code": "HCM1:AAAA", "code": "HCM1:BBBB"}'),
            ("/v1/verify", b'{"code": NaN}'),
            ("/v1/verify/batch", b'{"codes": [Infinity]}'),
            ("/v1/verify", b'\xef\xbb\xbf{"code": "HCM1:AAAA"}'),
            ("/v1/verify", '{"code": "HCM1:AAAA"}'.encode("utf-16")),
            ("/v1/verify", b'{"code": "HCM1:\xff"}'),
        ],
        ids=["deep", "deep-batch", "deep-closed", "duplicate", "nan", "infinity", "bom", "utf16",
             "not-utf8"],
    )  # fmt: skip
    async def test_json_that_is_not_strict_is_400(
        self, hub: HubClient, route: str, body: bytes
    ) -> None:
        r = await hub.post(route, data=body, headers={**bearer(), **JSON})
        assert r.status == 400
        doc = await r.json()
        assert doc["error"] == "bad_request" and "HCM1" not in doc["detail"]

    async def test_a_duplicate_member_is_refused_even_when_the_last_is_a_valid_code(
        self, hub: HubClient
    ) -> None:
        text = encode_text(hub.world.code(GD))
        body = json.dumps({"code": "HCM1:AAAA"})[:-1] + f', "code": "{text}"}}'
        r = await hub.post("/v1/verify", data=body.encode(), headers={**bearer(), **JSON})
        assert r.status == 400
        r = await hub.post("/v1/verify", json={"code": text}, headers=bearer())
        assert (await r.json())["valid"] is True
