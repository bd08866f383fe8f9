"""The OpenAPI document (SPEC §7: ``GET /openapi.json`` describes every call)."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from gateway.web.openapi import openapi_document

DOCUMENT_URI = "urn:hcgw:openapi"

# Every call of SPEC §4–§7. A route added to the app must be added here and documented.
EXPECTED_OPERATIONS = {
    ("post", "/v1/verify"),
    ("post", "/v1/verify/batch"),
    ("get", "/v1/trustlist"),
    ("get", "/v1/trustlist/key"),
    ("post", "/v1/issuers/{iss}/keys"),
    ("post", "/v1/issuers/{iss}/keys/revoke"),
    ("post", "/v1/issuers/{iss}/status"),
    ("get", "/v1/issuers/{iss}/status/mark"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
    ("get", "/metrics"),
    ("get", "/dashboard"),
    ("get", "/dashboard/data"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

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


def validator_for(name: str) -> Draft202012Validator:
    """A Draft 2020-12 validator for one component schema, its ``$ref``s resolved in the doc."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, DRAFT202012.create_resource(openapi_document())
    )
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/components/schemas/{name}"},
        registry=registry,
        format_checker=FormatChecker(),
    )


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


def test_the_document_lists_exactly_the_calls_of_the_hub() -> None:
    paths: dict[str, dict[str, Any]] = openapi_document()["paths"]  # type: ignore[assignment]
    documented = {
        (method, path) for path, item in paths.items() for method in item if method in HTTP_METHODS
    }
    assert documented == EXPECTED_OPERATIONS


def test_every_operation_has_a_unique_id_and_a_summary() -> None:
    paths: dict[str, dict[str, Any]] = openapi_document()["paths"]  # type: ignore[assignment]
    operations = [op for item in paths.values() for m, op in item.items() if m in HTTP_METHODS]
    ids = [op["operationId"] for op in operations]
    assert sorted(ids) == sorted(
        [
            "verifyCode",
            "verifyBatch",
            "getTrustList",
            "getTrustListKey",
            "addKey",
            "revokeKey",
            "postStatus",
            "getMark",
            "healthz",
            "readyz",
            "openapi",
            "metrics",
            "dashboard",
            "dashboardData",
        ]
    )
    assert all(op["summary"] for op in operations)


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
