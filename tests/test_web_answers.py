"""How answers are spelled, over real HTTP: RFC 6750's challenge on a refused token, and JSON in
UTF-8 as it is (``周**``, not ``\\u5468**``) from every renderer: verdicts, the other handlers,
errors."""

from __future__ import annotations

import json

import pytest

from factory import GD, MSGPACK, NOSCOPE_TOKEN, TRUST_TOKEN, bearer
from gateway.core.wire import encode_text
from hubtest import HubClient, MakeHub

NAME = "周**"  # a masked name, as an issuer puts it in a code


@pytest.fixture
async def hub(make_hub: MakeHub) -> HubClient:
    hub = await make_hub()
    r = await hub.post(f"/v1/issuers/{GD}/keys", data=hub.world.key_add(GD), headers=MSGPACK)
    assert r.status == 201, await r.text()
    return hub


class TestBearerChallenge:
    async def test_a_request_without_a_token_is_challenged_without_an_error_code(
        self, hub: HubClient
    ) -> None:
        r = await hub.post("/v1/verify", data=hub.world.code(GD), headers=MSGPACK)
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="hcgw"'
        assert await r.json() == {
            "error": "unauthenticated",
            "detail": "send Authorization: Bearer <token>",
        }

    @pytest.mark.parametrize("path", ["/v1/verify", "/v1/verify/batch", "/v1/trustlist"])
    async def test_a_wrong_token_is_challenged_as_invalid_token(
        self, hub: HubClient, path: str
    ) -> None:
        headers = {**bearer("t-wrong-" + "x" * 32), **MSGPACK}
        r = await (hub.get(path, headers=headers) if path == "/v1/trustlist" else
                   hub.post(path, data=hub.world.code(GD), headers=headers))  # fmt: skip
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="hcgw", error="invalid_token"'
        assert await r.json() == {"error": "unauthenticated", "detail": "unknown token"}

    async def test_another_scheme_is_no_token_at_all(self, hub: HubClient) -> None:
        r = await hub.post(
            "/v1/verify", data=b"", headers={"Authorization": "Basic dTpw", **MSGPACK}
        )
        assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="hcgw"'

    async def test_a_missing_scope_is_403_insufficient_scope(self, hub: HubClient) -> None:
        for token, path, scope in ((NOSCOPE_TOKEN, "/v1/trustlist", "trustlist"),
                                   (TRUST_TOKEN, "/v1/verify", "verify")):  # fmt: skip
            r = await (hub.get(path, headers=bearer(token)) if path == "/v1/trustlist" else
                       hub.post(path, data=hub.world.code(GD),
                                headers={**bearer(token), **MSGPACK}))  # fmt: skip
            assert r.status == 403 and (await r.json())["error"] == "forbidden"
            assert r.headers["WWW-Authenticate"] == (
                f'Bearer realm="hcgw", error="insufficient_scope", scope="{scope}"'
            )

    async def test_an_accepted_token_is_not_challenged(self, hub: HubClient) -> None:
        r = await hub.post("/v1/verify", data=hub.world.code(GD), headers={**bearer(), **MSGPACK})
        assert r.status == 200 and "WWW-Authenticate" not in r.headers


def assert_plain_utf8(raw: bytes, *texts: str) -> None:
    assert b"\\u" not in raw, raw[max(0, raw.find(b"\\u") - 40) :][:80]
    for text in texts:
        assert text.encode() in raw


class TestUtf8:
    async def test_a_verdict_spells_the_name_in_utf8(self, hub: HubClient) -> None:
        code = hub.world.code(GD, nm=NAME)
        r = await hub.post("/v1/verify", data=code, headers={**bearer(), **MSGPACK})
        assert r.status == 200 and r.headers["Content-Type"] == "application/json; charset=utf-8"
        raw = await r.read()
        assert_plain_utf8(raw, NAME)
        assert json.loads(raw)["nm"] == NAME

    async def test_a_batch_spells_the_names_in_utf8(self, hub: HubClient) -> None:
        codes = [hub.world.code(GD, nm=NAME), hub.world.code(GD, nm="欧阳**")]
        r = await hub.post(
            "/v1/verify/batch", json={"codes": [encode_text(c) for c in codes]}, headers=bearer()
        )
        assert r.status == 200
        raw = await r.read()
        assert_plain_utf8(raw, NAME, "欧阳**")
        assert [v["nm"] for v in json.loads(raw)] == [NAME, "欧阳**"]

    async def test_the_openapi_document_is_utf8(self, hub: HubClient) -> None:
        r = await hub.get("/openapi.json")
        assert r.status == 200 and r.headers["Content-Type"] == "application/json; charset=utf-8"
        assert_plain_utf8(await r.read(), "§")

    async def test_the_other_json_answers_are_utf8(self, hub: HubClient) -> None:
        for path in ("/healthz", "/readyz", "/v1/trustlist/key", f"/v1/issuers/{GD}/status/mark"):
            r = await hub.get(path)
            assert r.status == 200, path
            assert r.headers["Content-Type"] == "application/json; charset=utf-8", path
            assert_plain_utf8(await r.read())
        r = await hub.get("/v1/nowhere")
        assert r.status == 404 and r.headers["Content-Type"] == "application/json; charset=utf-8"
