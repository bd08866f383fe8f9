"""The OpenAPI document (SPEC §7: ``GET /openapi.json`` describes every call): valid OpenAPI 3.1,
its paths the route table's, its closed sets and limits the code's (a reason or an error code
added to the code joins the document or is refused by name), and request examples that a real hub
answers as documented, on their day and today."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from importlib import resources
from pathlib import Path
from typing import Any

import msgpack
import pytest
import yaml
from aiohttp import ClientResponse, web
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from factory import GD, MSGPACK, NOW, Issuer, World, bearer
from gateway.core.crypto import private_key_from_seed
from gateway.core.model import Reason
from gateway.web.openapi import (
    CONTRACT,
    ERROR_STATUSES,
    REASONS,
    DocumentError,
    build_document,
    error_statuses,
)
from gateway.web.openapi import _StrictLoader as StrictLoader
from gateway.web.routes import ROUTES, Route, add_operator_routes, add_routes, openapi_document
from hubtest import Clock, HubClient, MakeHub

DOCUMENT_URI = "urn:hcgw:openapi"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
Schema = dict[str, Any]

VALID_VERDICT = {
    "valid": True,
    "reason": None,
    "iss": "440000",
    "kid": "q83vEjRWeJA",
    "cid": "AAECAwQFBgcICQoLDA0ODw",
    "colour": "red",
    "code_colour": "green",
    "status_sv": 3,
    "exp": 1_767_225_600,
    "nm": "张*",
}
MALFORMED_VERDICT = {
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


def validator_for(name: str, document: Schema | None = None) -> Draft202012Validator:
    """A Draft 2020-12 validator for one component schema, its ``$ref``s resolved in the doc."""
    return schema_validator({"$ref": f"#/components/schemas/{name}"}, document)


def schema_validator(schema: Schema, document: Schema | None = None) -> Draft202012Validator:
    """A validator for ``schema`` taken from the document: its ``$ref``s point into it."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, DRAFT202012.create_resource(document or openapi_document())
    )
    return Draft202012Validator(
        {"$id": DOCUMENT_URI + "#request", **_anchored(schema)},
        registry=registry,
        format_checker=FormatChecker(),
    )


def _anchored(node: Any) -> Any:
    """``#/components/…`` refs made absolute, so they resolve against the document."""
    if isinstance(node, dict):
        return {
            k: (DOCUMENT_URI + v if k == "$ref" and v.startswith("#") else _anchored(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_anchored(v) for v in node]
    return node


def operations(document: Schema) -> dict[str, tuple[str, str, Schema]]:
    """operationId → (method, path, operation)."""
    return {
        op["operationId"]: (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    }


# ---------------------------------------------------------------- a valid document


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_the_server_url_is_listed_only_when_given() -> None:
    assert "servers" not in openapi_document()
    document = openapi_document("https://hub.example:8443")
    assert document["servers"] == [{"url": "https://hub.example:8443"}]
    validate(document, cls=OpenAPIV31SpecValidator)


def test_each_call_returns_a_copy_that_callers_may_change() -> None:
    first = openapi_document()
    first["paths"] = {}
    assert openapi_document()["paths"]


def test_a_key_written_twice_in_the_source_is_refused() -> None:
    with pytest.raises(DocumentError, match=r"line 2: \['description'\] twice"):
        yaml.load("a:\n  description: one\n  description: two\n", Loader=StrictLoader)  # noqa: S506
    merged = yaml.load("a: &a {x: 1, y: 2}\nb: {<<: *a, y: 3}\n", Loader=StrictLoader)  # noqa: S506
    assert merged["b"] == {"x": 1, "y": 3}  # overriding a merged key is what merging is for


# ---------------------------------------------------------------- the route table


def test_the_document_lists_exactly_the_routes_of_the_table() -> None:
    documented = {(m.upper(), path) for m, path, _ in operations(openapi_document()).values()}
    assert documented == {(r.method, r.path) for r in ROUTES}
    assert len(ROUTES) == len(documented) == 14


def test_the_apps_serve_exactly_the_routes_of_the_table() -> None:
    def served(app: web.Application) -> set[tuple[str, str]]:
        return {
            (route.method, route.resource.canonical)
            for route in app.router.routes()
            if route.method != "HEAD" and route.resource is not None
        }

    main, alone, admin = web.Application(), web.Application(), web.Application()
    add_routes(main)
    add_routes(alone, operator_views=False)
    add_operator_routes(admin)
    assert served(main) == {(r.method, r.path) for r in ROUTES}
    assert served(alone) == {(r.method, r.path) for r in ROUTES if not r.operator}
    assert served(admin) == {(r.method, r.path) for r in ROUTES if r.operator}
    assert {r.path for r in ROUTES if r.operator} == {"/metrics", "/dashboard", "/dashboard/data"}


async def test_over_the_inflight_limit_only_the_routes_the_table_exempts_answer(
    make_hub: MakeHub,
) -> None:
    hub = await make_hub(max_inflight=0)  # every counted request is over the limit at once
    for route in ROUTES:
        path = route.path.replace("{iss}", GD)
        r = await hub.request(route.method, path, data=b"", headers=bearer())
        overloaded = r.status == 503 and (await r.json())["error"] == "overloaded"
        assert overloaded is route.limited, (route.method, path, r.status)


def test_every_operation_has_a_unique_id_and_a_summary() -> None:
    paths: dict[str, dict[str, Any]] = openapi_document()["paths"]  # type: ignore[assignment]
    ops = [op for item in paths.values() for m, op in item.items() if m in HTTP_METHODS]
    assert sorted(op["operationId"] for op in ops) == sorted(r.operation_id for r in ROUTES)
    assert all(op["summary"] for op in ops)


def test_only_verification_and_trust_list_calls_need_a_bearer_token() -> None:
    document = openapi_document()
    paths: dict[str, dict[str, Any]] = document["paths"]  # type: ignore[assignment]
    secured = {
        (m, path)
        for path, item in paths.items()
        for m, op in item.items()
        if m in HTTP_METHODS and op.get("security")
    }
    assert document["security"] == []
    assert secured == {
        ("post", "/v1/verify"),
        ("post", "/v1/verify/batch"),
        ("get", "/v1/trustlist"),
    }


async def _noop(request: web.Request) -> web.Response:
    raise AssertionError("never served")


def test_a_route_without_an_operation_is_refused_by_name() -> None:
    extra = Route("GET", "/v1/extra", "getExtra", _noop)
    with pytest.raises(DocumentError, match="route GET /v1/extra has no operation 'getExtra'"):
        build_document([*ROUTES, extra])


def test_an_operation_without_a_route_is_refused_by_name() -> None:
    with pytest.raises(DocumentError, match=r"\['dashboardData'\] .* have no route"):
        build_document([r for r in ROUTES if r.operation_id != "dashboardData"])


# ---------------------------------------------------------------- closed sets and limits


def test_the_verdict_reasons_are_the_reason_enum() -> None:
    reason = openapi_document()["components"]["schemas"]["Verdict"]["properties"]["reason"]  # type: ignore[index]
    assert reason["enum"] == [*(r.value for r in Reason), None]


def test_the_error_codes_are_the_error_tree_with_its_statuses() -> None:
    document: Schema = openapi_document()
    assert document["components"]["schemas"]["Error"]["properties"]["error"]["enum"] == list(
        ERROR_STATUSES
    )
    assert ERROR_STATUSES["stale_seq"] == 409 and ERROR_STATUSES["bad_timestamp"] == 400
    assert "internal" not in ERROR_STATUSES  # the 500 of a bug is no code of SPEC §7
    responses = document["components"]["responses"]
    for _, _, op in operations(document).values():
        for status, response in op["responses"].items():
            name = response.get("$ref", "").removeprefix("#/components/responses/")
            if name:
                enum = responses[name]["content"]["application/json"]["schema"]["allOf"][1]
                codes = enum["properties"]["error"]["enum"]
                assert {ERROR_STATUSES[c] for c in codes} == {int(status)}, (name, codes)


def test_the_error_tree_is_read_from_the_classes() -> None:
    class Root(Exception):  # a tree of its own: HcgwError's subclasses stay as they are
        error, status = "internal", 500

    class Gone(Root):
        error, status = "gone", 410

    class Again(Gone):
        pass  # names no code of its own

    class Teapot(Root):
        error, status = "teapot", 418

    assert error_statuses(Root) == {"gone": 410, "teapot": 418}  # type: ignore[arg-type]
    assert [Again.error, Teapot.error] == ["gone", "teapot"]

    class Odd(Gone):
        status = 411  # the same code with another status

    with pytest.raises(DocumentError, match="'gone' has two statuses"):
        error_statuses(Root)  # type: ignore[arg-type]
    assert error_statuses() == ERROR_STATUSES and list(ERROR_STATUSES)[:2] == [
        "bad_request",
        "bad_timestamp",
    ]
    assert Odd.status == 411


def test_the_source_holds_no_copy_of_a_limit_of_the_code() -> None:
    """Every limit reaches openapi.yaml as ``${NAME}``: its figure is not written there."""
    source = (resources.files("gateway.web") / "openapi.yaml").read_text(encoding="utf-8")
    # what the document says: neither the comments nor the examples' values and codes
    prose = re.sub(r"(?m)^\s*(#|value:).*$|HCM1:\S+", "", source)
    for name, value in CONTRACT.items():
        if isinstance(value.value, int) and value.value >= 1000:
            for spelling in {str(value.value), value.text}:
                assert not re.search(rf"(?<![\w,.]){re.escape(spelling)}(?![\w,])", prose), (
                    name,
                    spelling,
                )


def test_the_limits_are_the_codes() -> None:
    document: Schema = openapi_document()
    schemas: Schema = document["components"]["schemas"]
    assert schemas["BatchRequest"]["properties"]["codes"]["maxItems"] == 1000
    assert schemas["StatusPayload"]["properties"]["events"]["maxItems"] == 10_000
    assert schemas["StatusApplied"]["properties"]["applied"]["maximum"] == 10_000
    assert schemas["Mark"]["properties"]["mark"]["maximum"] == 2**53 - 1
    assert schemas["CodeText"]["maxLength"] == 5 + 1366
    paths: Schema = openapi_document()["paths"]  # type: ignore[assignment]
    assert "Bodies over 4 KiB are 413" in paths["/v1/verify"]["post"]["description"]
    assert "Bodies over 2 MiB are 413" in paths["/v1/verify/batch"]["post"]["description"]
    assert "at most 1 MiB" in paths["/v1/issuers/{iss}/keys"]["post"]["description"]


def _verdict_schema(document: Schema) -> Draft202012Validator:
    return validator_for("Verdict", document)


def test_a_reason_added_inside_a_row_of_the_table_joins_that_row() -> None:
    """STYLE.md adds a reason where its step is: between KEY_REVOKED and KEY_NOT_VALID it falls
    in SPEC §3.2's "UNKNOWN_ISSUER … BAD_SIGNATURE" row, and BAD_SIGNATURE stays there (with
    ``REASONS[1:8]`` it silently left the row)."""
    reasons = list(REASONS)
    reasons.insert(reasons.index("KEY_NOT_VALID"), "KEY_SUSPENDED")
    document = build_document(ROUTES, reasons=reasons)
    verdict = _verdict_schema(document)
    for reason in ("KEY_SUSPENDED", "BAD_SIGNATURE"):
        rejected = {**MALFORMED_VERDICT, "reason": reason, "iss": GD, "kid": "q83vEjRWeJA"}
        verdict.validate(rejected)
        assert not verdict.is_valid({**rejected, "cid": "AAECAwQFBgcICQoLDA0ODw"}), reason
        assert not verdict.is_valid({**rejected, "kid": None}), reason
    assert not _verdict_schema(openapi_document()).is_valid(
        {**MALFORMED_VERDICT, "reason": "KEY_SUSPENDED", "iss": GD, "kid": "q83vEjRWeJA"}
    )


@pytest.mark.parametrize("after", ["BAD_SIGNATURE", "NOT_YET_VALID", "EXPIRED"])
def test_a_reason_added_outside_every_row_of_the_table_is_refused_by_name(after: str) -> None:
    reasons = list(REASONS)
    reasons.insert(reasons.index(after) + 1, "CODE_WITHDRAWN")
    with pytest.raises(DocumentError, match="reason CODE_WITHDRAWN is in no row of the Verdict"):
        build_document(ROUTES, reasons=reasons)


def test_an_error_code_added_to_the_tree_without_a_response_is_refused_by_name() -> None:
    with pytest.raises(DocumentError, match=r"error code 'gone' \(410\) is in no error response"):
        build_document(ROUTES, error_codes={**ERROR_STATUSES, "gone": 410})


def test_an_error_codes_status_comes_from_the_tree() -> None:
    moved = build_document(ROUTES, error_codes={**ERROR_STATUSES, "not_found": 410})
    assert "410" in moved["paths"]["/v1/issuers/{iss}/status/mark"]["get"]["responses"]  # type: ignore[index]
    assert "404" not in moved["paths"]["/v1/issuers/{iss}/status/mark"]["get"]["responses"]  # type: ignore[index]
    assert moved["components"]["schemas"]["Error"]["properties"]["error"]["enum"][-1] == (  # type: ignore[index]
        "unavailable"
    )
    with pytest.raises(DocumentError, match=r"KeyConflict mixes statuses \[409, 410\]"):
        build_document(ROUTES, error_codes={**ERROR_STATUSES, "kid_collision": 410})


# ---------------------------------------------------------------- schemas


def test_a_valid_verdict_matches_the_verdict_schema() -> None:
    validator_for("Verdict").validate(VALID_VERDICT)


def test_a_valid_verdict_without_a_status_or_name_matches_the_verdict_schema() -> None:
    validator_for("Verdict").validate({**VALID_VERDICT, "status_sv": None, "nm": None})


def test_a_malformed_verdict_with_every_other_field_null_matches_the_verdict_schema() -> None:
    validator_for("Verdict").validate(MALFORMED_VERDICT)


def test_an_expired_verdict_matches_the_verdict_schema() -> None:
    expired = {**VALID_VERDICT, "valid": False, "reason": "EXPIRED", "colour": None}
    validator_for("Verdict").validate({**expired, "status_sv": None})


@pytest.mark.parametrize(
    "verdict",
    [
        pytest.param({**VALID_VERDICT, "colour": "blue"}, id="colour blue"),
        pytest.param({**MALFORMED_VERDICT, "reason": "TOO_OLD"}, id="unknown reason"),
        pytest.param({k: v for k, v in VALID_VERDICT.items() if k != "nm"}, id="nm missing"),
        pytest.param({**VALID_VERDICT, "kid": "q83vEjRWeJA="}, id="padded kid"),
        pytest.param({**MALFORMED_VERDICT, "iss": "440000"}, id="MALFORMED with iss"),
        pytest.param({**VALID_VERDICT, "reason": "EXPIRED"}, id="valid with a reason"),
        pytest.param({**MALFORMED_VERDICT, "reason": None}, id="invalid without a reason"),
    ],
)
def test_a_verdict_breaking_the_contract_fails_the_verdict_schema(verdict: object) -> None:
    assert not validator_for("Verdict").is_valid(verdict)


def test_an_error_body_with_a_mark_matches_the_error_schema() -> None:
    validator_for("Error").validate({"error": "stale_seq", "detail": "seq 3 ≤ mark 41", "mark": 41})


def test_an_error_body_without_a_mark_matches_the_error_schema() -> None:
    validator_for("Error").validate({"error": "rate_limited", "detail": "over 50 per second"})


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"error": "seq_gap", "detail": "gap"}, id="seq_gap without mark"),
        pytest.param({"error": "replay", "detail": "seen", "mark": 3}, id="replay with mark"),
        pytest.param({"error": "internal", "detail": "boom"}, id="code not in SPEC 7"),
        pytest.param({"error": "bad_request"}, id="detail missing"),
    ],
)
def test_an_error_body_breaking_the_contract_fails_the_error_schema(body: object) -> None:
    assert not validator_for("Error").is_valid(body)


def test_the_answers_of_management_and_operations_match_their_schemas() -> None:
    validator_for("KeyAdded").validate({"kid": "q83vEjRWeJA"})
    validator_for("KeyRevoked").validate({"kid": "q83vEjRWeJA", "revoked": True})
    validator_for("StatusApplied").validate({"applied": 2, "mark": 42})
    validator_for("Mark").validate({"mark": 0})
    validator_for("TrustListKey").validate({"alg": "Ed25519", "spki": "MCowBQYDK2VwAyEA"})
    validator_for("Health").validate({"status": "ok"})
    validator_for("Readiness").validate({"ready": True, "reasons": []})
    validator_for("Readiness").validate(
        {
            "ready": False,
            "reasons": ["redis unreachable"],
            "error": "unavailable",
            "detail": "not ready: redis unreachable",
        }
    )
    assert not validator_for("Readiness").is_valid({"ready": False, "reasons": []})


def test_the_examples_in_the_component_schemas_match_their_schemas() -> None:
    schemas: dict[str, dict[str, Any]] = openapi_document()["components"]["schemas"]  # type: ignore[index]
    examples = [(n, e) for n, s in schemas.items() for e in s.get("examples", [])]
    assert examples
    for name, example in examples:
        validator_for(name).validate(example)


# ---------------------------------------------------------------- request examples

GOLDEN = json.loads((Path(__file__).parent / "golden" / "codes.json").read_text())
GOLDEN_KEY = private_key_from_seed(
    hashlib.sha256(GOLDEN["keys"][0]["seed_sha256_of"].encode()).digest()
)
EXAMPLE_UPLOAD = private_key_from_seed(hashlib.sha256(b"hcgw openapi example upload key").digest())
# The order the examples chain in: the key first, the codes, then the writes that change them.
EXAMPLE_ORDER = ["addKey", "verifyCode", "verifyBatch", "postStatus", "revokeKey"]


def request_examples(document: Schema) -> list[tuple[str, str, str, str, Schema, Any]]:
    """(operationId, method, path, media type, media object, example) of every request example,
    in ``EXAMPLE_ORDER``."""
    ops = operations(document)
    out = []
    for op_id in EXAMPLE_ORDER:
        method, path, op = ops[op_id]
        for media, content in op["requestBody"]["content"].items():
            for name, example in content["examples"].items():
                out.append((op_id, method, path, media, content, (name, example["value"])))
    return out


def body_of(media: str, value: Any) -> bytes:
    """The bytes a client sends for an example (a msgpack example is its bytes in base64)."""
    if media == "application/msgpack":
        return base64.b64decode(value, validate=True)
    if media == "application/json":
        return json.dumps(value).encode()
    return str(value).encode()


def test_every_request_body_has_an_example_in_each_of_its_media_types() -> None:
    ops = operations(openapi_document())
    with_bodies = {op_id for op_id, (_, _, op) in ops.items() if "requestBody" in op}
    assert with_bodies == set(EXAMPLE_ORDER)
    for op_id in with_bodies:
        for media, content in ops[op_id][2]["requestBody"]["content"].items():
            assert content.get("examples"), (op_id, media)


def test_the_request_examples_match_their_schemas() -> None:
    document = openapi_document()
    for op_id, _, _, media, content, (_, value) in request_examples(document):
        if media == "application/msgpack":
            data = msgpack.unpackb(body_of(media, value), raw=False)
            schema_validator(content["schema"], document).validate(data)
            if "x-payload" in content:
                payload = msgpack.unpackb(data[1], raw=False)
                schema_validator(content["x-payload"], document).validate(payload)
        else:
            schema_validator(content["schema"], document).validate(value)
        assert op_id


def test_the_verify_examples_are_golden_codes() -> None:
    texts = {c["text"] for c in GOLDEN["cases"]}
    envelopes = {bytes.fromhex(c["envelope"]) for c in GOLDEN["cases"]}
    for op_id, _, _, media, _, (_, value) in request_examples(openapi_document()):
        if op_id == "verifyCode":
            code = value["code"] if media == "application/json" else value
            assert code in texts or body_of(media, code) in envelopes
        elif op_id == "verifyBatch":
            codes = value["codes"] if media == "application/json" else None
            assert codes is None or set(codes) <= texts
            if codes is None:
                assert set(msgpack.unpackb(body_of(media, value))) <= envelopes


def documented_answer(op: Schema, name: str) -> tuple[int, Any]:
    """The success status and the response example named ``name``."""
    for status, response in op["responses"].items():
        examples = response.get("content", {}).get("application/json", {}).get("examples", {})
        if name in examples:
            return int(status), examples[name]["value"]
    raise AssertionError(f"{op['operationId']} documents no answer named {name!r}")


def example_world() -> World:
    """Issuer 440000 enrolled with the examples' upload key, signing with the golden key."""
    world = World.make()
    world.issuers[GD] = Issuer(GD, EXAMPLE_UPLOAD, GOLDEN_KEY)
    return world


async def post_example(
    hub: HubClient, method: str, path: str, media: str, value: Any
) -> ClientResponse:
    headers = {"Content-Type": media, **bearer()}
    return await hub.request(
        method, path.replace("{iss}", GD), data=body_of(media, value), headers=headers
    )


async def test_a_hub_on_the_examples_day_answers_each_request_example_as_documented(
    make_hub: MakeHub,
) -> None:
    document = openapi_document()
    hub = await make_hub(example_world(), Clock(GOLDEN["now"]))
    assert GOLDEN["now"] == NOW
    ops = operations(document)
    for op_id, method, path, media, _, (name, value) in request_examples(document):
        status, answer = documented_answer(ops[op_id][2], name)
        r = await post_example(hub, method, path, media, value)
        assert (r.status, await r.json()) == (status, answer), (op_id, media)


async def test_a_hub_today_answers_each_request_example_as_documented(make_hub: MakeHub) -> None:
    """Today the codes have expired (each verify operation documents that answer as
    ``golden-today``) and the messages' iat is years off: 400 ``bad_timestamp``, as each
    management example's description says."""
    document: Schema = openapi_document()
    world = example_world()
    now = int(time.time())
    hub = await make_hub(world, Clock(now))
    r = await hub.post(
        f"/v1/issuers/{GD}/keys",
        data=world.key_add(GD, now=now, nbf=NOW - 3600, naf=now + 3600),
        headers=MSGPACK,
    )
    assert r.status == 201  # the golden key, registered today by a message made today
    ops = operations(document)
    for op_id, method, path, media, content, (name, value) in request_examples(document):
        op = ops[op_id][2]
        r = await post_example(hub, method, path, media, value)
        body = await r.json()
        if op_id.startswith("verify"):
            assert (r.status, body) == documented_answer(op, f"{name}-today"), (op_id, media)
            continue
        assert r.status == 400 and body["error"] == "bad_timestamp", (op_id, body)
        assert "answered 400 `bad_timestamp`" in content["examples"][name]["description"]
        response = document["components"]["responses"]["BadMessage"]
        assert op["responses"]["400"]["$ref"].endswith("/BadMessage")
        schema_validator(response["content"]["application/json"]["schema"], document).validate(body)
