"""The OpenAPI 3.1 document of the hub, served at ``GET /openapi.json`` (SPEC §7).

It describes every call of SPEC §4–§7 as the contract states it; ``tests/test_openapi.py``
validates it and pins the set of documented (method, path) pairs. Built once at import; each
call returns a fresh copy, with ``servers`` when a URL is given.

Binary bodies (``application/msgpack``) are described by their msgpack data model: an array is
an array, a ``bin`` is an item whose description says so (JSON Schema has no byte-string type).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from gateway.core.model import Alg
from gateway.web import dashboard_schema

ALGS = [alg.value for alg in Alg]  # SPEC §2

__all__ = ["openapi_document"]

Schema = dict[str, Any]

MAX_INT = 2**53 - 1  # every integer of the contract lies in 0 … 2^53 − 1 (SPEC §2)

REASONS = [
    "MALFORMED",
    "UNKNOWN_ISSUER",
    "ISSUER_KEY_MISMATCH",
    "UNKNOWN_KID",
    "ALG_MISMATCH",
    "KEY_REVOKED",
    "KEY_NOT_VALID",
    "BAD_SIGNATURE",
    "NOT_YET_VALID",
    "EXPIRED",
]
ERROR_CODES = [
    "bad_request",
    "bad_timestamp",
    "unauthenticated",
    "forbidden",
    "issuer_scope",
    "bad_signature",
    "not_found",
    "method_not_allowed",
    "replay",
    "stale_seq",
    "seq_gap",
    "kid_collision",
    "body_too_large",
    "batch_too_large",
    "unsupported_media_type",
    "weak_key",
    "invalid_key",
    "rate_limited",
    "overloaded",
    "unavailable",
]

# ---------------------------------------------------------------- small building blocks

_NULL: Schema = {"type": "null"}
_FILLED: Schema = {"not": {"type": "null"}}
_UINT: Schema = {"type": "integer", "minimum": 0, "maximum": MAX_INT}
_ISS: Schema = {"type": "string", "pattern": "^[0-9]{6}$"}
_KID: Schema = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_-]{11}$",
    "description": "8-byte key id, base64url without padding",
}
_COLOUR: Schema = {"type": ["string", "null"], "enum": ["green", "yellow", "red", None]}
_CODE_TEXT_PATTERN = "^HCM1:[A-Za-z0-9_-]+$"
_CODE_TEXT_MAX = 5 + 1366  # "HCM1:" + base64url of a 1,024-byte envelope


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> Schema:
    return _ref("schemas", name)


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def _error(description: str, codes: list[str], headers: Schema | None = None) -> Schema:
    """A reusable error response whose ``error`` is one of ``codes``."""
    response: Schema = {
        "description": description,
        "content": _json({"allOf": [_schema("Error"), {"properties": {"error": {"enum": codes}}}]}),
    }
    if headers:
        response["headers"] = headers
    return response


_ERROR_STATUS = {
    "BadRequest": 400,
    "BadMessage": 400,
    "Unauthenticated": 401,
    "Forbidden": 403,
    "MessageRejected": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "Replay": 409,
    "KeyConflict": 409,
    "StatusConflict": 409,
    "BodyTooLarge": 413,
    "BatchTooLarge": 413,
    "UnsupportedMediaType": 415,
    "KeyRejected": 422,
    "RateLimited": 429,
    "Overloaded": 503,
    "Unavailable": 503,
}


def _errors(*names: str) -> dict[str, Schema]:
    """Operation responses from reusable error responses, keyed by their HTTP status."""
    responses = {str(_ERROR_STATUS[n]): _ref("responses", n) for n in names}
    if len(responses) != len(names):
        raise ValueError(f"two error responses share a status: {names}")
    return responses


_RETRY_AFTER = {"Retry-After": _ref("headers", "RetryAfter")}
_BEARER = "bearerAuth"

# ---------------------------------------------------------------- component schemas

_VERDICT_FIELDS = ["iss", "kid", "cid", "colour", "code_colour", "status_sv", "exp", "nm"]


def _fill(filled: Sequence[str], maybe: Sequence[str] = (), **more: Schema) -> Schema:
    """``filled`` non-null, ``maybe`` either, every other verdict field null (SPEC §3.2)."""
    fields = {f: _FILLED if f in filled else _NULL for f in _VERDICT_FIELDS if f not in maybe}
    return {"properties": {**more, **fields}}


_VERDICT: Schema = {
    "type": "object",
    "description": (
        "The answer for one code (SPEC §3.2). All ten keys are always present; which are filled "
        "depends on how far verification got. An invalid code is still HTTP 200."
    ),
    "required": ["valid", "reason", *_VERDICT_FIELDS],
    "additionalProperties": False,
    "properties": {
        "valid": {"type": "boolean"},
        "reason": {
            "type": ["string", "null"],
            "enum": [*REASONS, None],
            "description": "The first failed step of SPEC §3.1; null when valid.",
        },
        "iss": {**_ISS, "type": ["string", "null"]},
        "kid": {**_KID, "type": ["string", "null"]},
        "cid": {
            "type": ["string", "null"],
            "pattern": "^[A-Za-z0-9_-]{22}$",
            "description": "16-byte code id, base64url without padding",
        },
        "colour": {
            **_COLOUR,
            "description": "Effective colour: the stored status's or the code's.",
        },
        "code_colour": {**_COLOUR, "description": "The colour the code was issued with."},
        "status_sv": {
            **_UINT,
            "type": ["integer", "null"],
            "description": "The stored status version of the subject (valid codes), used or not.",
        },
        "exp": {**_UINT, "type": ["integer", "null"], "description": "Expiry, Unix seconds."},
        "nm": {"type": ["string", "null"], "maxLength": 16, "description": "Masked name."},
    },
    "allOf": [
        {
            "if": {"properties": {"valid": {"const": True}}},
            "then": _fill(
                ["iss", "kid", "cid", "colour", "code_colour", "exp"],
                ["status_sv", "nm"],
                reason=_NULL,
            ),
            "else": {"properties": {"reason": _FILLED}},
        },
        {
            "if": {"properties": {"reason": {"const": "MALFORMED"}}},
            "then": _fill([]),
        },
        {
            "if": {"properties": {"reason": {"enum": REASONS[1:8]}}},
            "then": _fill(["iss", "kid"]),
        },
        {
            "if": {"properties": {"reason": {"enum": ["NOT_YET_VALID", "EXPIRED"]}}},
            "then": _fill(["iss", "kid", "cid", "exp", "code_colour"], ["nm"]),
        },
    ],
    "examples": [
        {
            "valid": True,
            "reason": None,
            "iss": "440000",
            "kid": "q83vEjRWeJA",
            "cid": "AAECAwQFBgcICQoLDA0ODw",
            "colour": "yellow",
            "code_colour": "green",
            "status_sv": 7,
            "exp": 1767225600,
            "nm": "张*",
        },
        {
            "valid": False,
            "reason": "MALFORMED",
            **dict.fromkeys(_VERDICT_FIELDS),
        },
    ],
}

_SCHEMAS: dict[str, Schema] = {
    "Verdict": _VERDICT,
    "Error": {
        "type": "object",
        "description": (
            "Every 4xx and 5xx answer (SPEC §7). `mark` is present exactly with "
            "`stale_seq` and `seq_gap` (SPEC §4)."
        ),
        "required": ["error", "detail"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string", "enum": ERROR_CODES},
            "detail": {"type": "string", "description": "Human-readable; never a stack trace."},
            "mark": {**_UINT, "description": "The issuer's last applied status seq."},
        },
        "if": {"properties": {"error": {"enum": ["stale_seq", "seq_gap"]}}},
        "then": {"required": ["mark"]},
        "else": {"not": {"required": ["mark"]}},
    },
    "Mark": {
        "type": "object",
        "required": ["mark"],
        "additionalProperties": False,
        "properties": {"mark": {**_UINT, "description": "Last applied status seq; 0 at first."}},
    },
    "KeyAdded": {
        "type": "object",
        "required": ["kid"],
        "additionalProperties": False,
        "properties": {"kid": _KID},
    },
    "KeyRevoked": {
        "type": "object",
        "required": ["kid", "revoked"],
        "additionalProperties": False,
        "properties": {"kid": _KID, "revoked": {"const": True}},
    },
    "StatusApplied": {
        "type": "object",
        "required": ["applied", "mark"],
        "additionalProperties": False,
        "properties": {
            "applied": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10_000,
                "description": "How many events applied (an event applies when its sv is newer).",
            },
            "mark": {**_UINT, "minimum": 1, "description": "The seq just applied."},
        },
    },
    "TrustListKey": {
        "type": "object",
        "description": "The hub's trust-list signing key (SPEC §6).",
        "required": ["alg", "spki"],
        "additionalProperties": False,
        "properties": {
            "alg": {"type": "string", "enum": ALGS},
            "spki": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]+$",
                "description": "DER SubjectPublicKeyInfo, base64url without padding",
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "additionalProperties": False,
        "properties": {
            "status": {"const": "ok"},
            "pid": {"type": "integer", "description": "The answering worker process."},
        },
    },
    "Readiness": {
        "description": "Ready when Redis is reachable and the trust registry is loaded.",
        "oneOf": [
            {
                "title": "ready",
                "type": "object",
                "required": ["ready", "reasons"],
                "additionalProperties": False,
                "properties": {
                    "ready": {"const": True},
                    "reasons": {"type": "array", "maxItems": 0},
                },
            },
            {
                "title": "not ready",
                "type": "object",
                "required": ["ready", "reasons", "error", "detail"],
                "additionalProperties": False,
                "properties": {
                    "ready": {"const": False},
                    "reasons": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "error": {"const": "unavailable"},
                    "detail": {"type": "string"},
                },
            },
        ],
    },
    "Envelope": {
        "description": (
            "A signed envelope (SPEC §2), as msgpack bytes: an array of exactly three `bin` "
            "elements, minimally encoded. Domain `HCM1` for codes (at most 1,024 bytes), "
            "`HCM1-ADMIN` for management messages (at most 1 MiB), `HCM1-TRUST` for the trust list."
        ),
        "type": "array",
        "minItems": 3,
        "maxItems": 3,
        "prefixItems": [
            {"description": "protected: bin, exactly msgpack {1: alg (str), 4: kid (bin 8)}"},
            {"description": "payload: bin, a msgpack map (SPEC §3, §4 or §6)"},
            {"description": "signature: bin, 64 bytes (Ed25519, or ES256 and SM2 as raw r || s)"},
        ],
    },
    "CodeText": {
        "type": "string",
        "pattern": _CODE_TEXT_PATTERN,
        "maxLength": _CODE_TEXT_MAX,
        "description": (
            "A code's text form (SPEC §3): `HCM1:` then the envelope in base64url without "
            "padding. Anything else is answered with a MALFORMED verdict, not an error."
        ),
    },
    "VerifyRequest": {
        "type": "object",
        "required": ["code"],
        "properties": {"code": _schema("CodeText")},
    },
    "BatchRequest": {
        "type": "object",
        "required": ["codes"],
        "properties": {
            "codes": {
                "type": "array",
                "maxItems": 1000,
                "items": _schema("CodeText"),
                "description": "An element that is not a string is a MALFORMED verdict in place.",
            }
        },
    },
    "KeyAddPayload": {
        "description": "Payload of a `key.add` message (msgpack map, str keys; SPEC §4).",
        "type": "object",
        "required": ["typ", "iss", "iat", "nonce", "alg", "spki", "nbf", "naf"],
        "properties": {
            "typ": {"const": "key.add"},
            "iss": _ISS,
            "iat": _UINT,
            "nonce": {"description": "bin, 16 bytes"},
            "alg": {"type": "string", "enum": ALGS},
            "spki": {"description": "bin, DER SubjectPublicKeyInfo in canonical form"},
            "nbf": _UINT,
            "naf": {**_UINT, "description": "Must be greater than nbf."},
        },
    },
    "KeyRevokePayload": {
        "description": "Payload of a `key.revoke` message (msgpack map, str keys; SPEC §4).",
        "type": "object",
        "required": ["typ", "iss", "iat", "nonce", "kid"],
        "properties": {
            "typ": {"const": "key.revoke"},
            "iss": _ISS,
            "iat": _UINT,
            "nonce": {"description": "bin, 16 bytes"},
            "kid": {"description": "bin, 8 bytes"},
        },
    },
    "StatusPayload": {
        "description": "Payload of a `status` message (msgpack map, str keys; SPEC §4).",
        "type": "object",
        "required": ["typ", "iss", "iat", "nonce", "seq", "events"],
        "properties": {
            "typ": {"const": "status"},
            "iss": _ISS,
            "iat": _UINT,
            "nonce": {"description": "bin, 16 bytes"},
            "seq": {**_UINT, "minimum": 1, "description": "Accepted only as mark + 1."},
            "events": {
                "type": "array",
                "maxItems": 10_000,
                "items": {
                    "type": "array",
                    "minItems": 4,
                    "maxItems": 4,
                    "prefixItems": [
                        {"description": "sub: bin, 16 bytes"},
                        {"type": "integer", "enum": [0, 1, 2], "description": "col"},
                        {**_UINT, "description": "sv"},
                        {**_UINT, "description": "at: Unix seconds, for lag metrics only"},
                    ],
                },
            },
        },
    },
    "TrustListPayload": {
        "description": "Payload of the trust list (msgpack map, str keys; SPEC §6).",
        "type": "object",
        "required": ["version", "iat", "exp", "issuers", "keys"],
        "properties": {
            "version": {**_UINT, "minimum": 1},
            "iat": _UINT,
            "exp": {**_UINT, "description": "iat + 3600"},
            "issuers": {"type": "array", "items": _ISS},
            "keys": {
                "type": "array",
                "description": "Sorted by (iss, kid).",
                "items": {
                    "type": "object",
                    "required": ["iss", "kid", "alg", "spki", "nbf", "naf", "revoked"],
                    "properties": {
                        "iss": _ISS,
                        "kid": {"description": "bin, 8 bytes"},
                        "alg": {"type": "string", "enum": ALGS},
                        "spki": {"description": "bin, DER SubjectPublicKeyInfo"},
                        "nbf": _UINT,
                        "naf": _UINT,
                        "revoked": {"type": "boolean"},
                    },
                },
            },
        },
    },
    "DashboardData": dashboard_schema.DASHBOARD_DATA,
}

# ---------------------------------------------------------------- reusable responses


_RESPONSES: dict[str, Schema] = {
    "BadRequest": _error("The body is not of the documented shape.", ["bad_request"]),
    "BadMessage": _error(
        "Malformed envelope or payload, unknown `typ`, or a bad field (`bad_request`); "
        "`|now − iat| > 300` (`bad_timestamp`).",
        ["bad_request", "bad_timestamp"],
    ),
    "Unauthenticated": _error("Missing or unknown bearer token.", ["unauthenticated"]),
    "Forbidden": _error("The client lacks the scope this call needs.", ["forbidden"]),
    "MessageRejected": _error(
        "Unknown upload key, alg or signature that does not verify (`bad_signature`); "
        "path, payload and upload key disagree on the issuer (`issuer_scope`).",
        ["bad_signature", "issuer_scope"],
    ),
    "NotFound": _error("No such resource, or `{iss}` is not an enrolled issuer.", ["not_found"]),
    "MethodNotAllowed": _error(
        "The path exists but not with this method; `Allow` lists the methods.",
        ["method_not_allowed"],
        {"Allow": {"schema": {"type": "string"}, "required": True}},
    ),
    "Replay": _error("This `(iss, nonce)` was applied before.", ["replay"]),
    "KeyConflict": _error(
        "Replayed nonce (`replay`), or the kid is already registered to anyone (`kid_collision`).",
        ["replay", "kid_collision"],
    ),
    "StatusConflict": _error(
        "Replayed nonce (`replay`); `seq ≤ mark` (`stale_seq`) or `seq > mark + 1` "
        "(`seq_gap`), both with the current `mark`.",
        ["replay", "stale_seq", "seq_gap"],
    ),
    "BodyTooLarge": _error("The body is over its limit.", ["body_too_large"]),
    "BatchTooLarge": _error(
        "The body is over 2 MiB (`body_too_large`) or holds more than 1,000 codes "
        "(`batch_too_large`).",
        ["body_too_large", "batch_too_large"],
    ),
    "UnsupportedMediaType": _error(
        "A Content-Type this call does not take, or a Content-Encoding other than identity.",
        ["unsupported_media_type"],
    ),
    "KeyRejected": _error(
        "The key does not load, is not on its curve, is not canonical or not of `alg` "
        "(`invalid_key`); an Ed25519 small-order key (`weak_key`).",
        ["weak_key", "invalid_key"],
    ),
    "RateLimited": _error(
        "Over the client's rate (a batch of n codes costs n), hub-wide.",
        ["rate_limited"],
        _RETRY_AFTER,
    ),
    "Overloaded": _error("Past the in-flight limit.", ["overloaded"], _RETRY_AFTER),
    "Unavailable": _error(
        "Past the in-flight limit (`overloaded`), or the hub cannot answer correctly, "
        "e.g. Redis is unreachable (`unavailable`).",
        ["overloaded", "unavailable"],
        _RETRY_AFTER,
    ),
}

# ---------------------------------------------------------------- operations

_ISS_PARAM = [_ref("parameters", "Iss")]
_MSGPACK_ENVELOPE = {"application/msgpack": {"schema": _schema("Envelope")}}
_VERDICT_CONTENT = {
    "application/json": {"schema": _schema("Verdict")},
    "application/msgpack": {"schema": _schema("Verdict")},
}
_BATCH_CONTENT = {
    media: {"schema": {"type": "array", "maxItems": 1000, "items": _schema("Verdict")}}
    for media in ("application/json", "application/msgpack")
}


def _management(
    operation_id: str, summary: str, typ: str, payload: str, ok: Schema, conflict: str, *extra: str
) -> Schema:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["issuers"],
        "description": (
            f"A `{typ}` management message (SPEC §4): an `HCM1-ADMIN` envelope signed by one "
            "of the issuer's upload keys, at most 1 MiB. No bearer token: the signature "
            "authenticates. Checks in order: 413, 415, 404 (`{iss}` not enrolled), envelope "
            "(400), upload key and signature (403), payload and `typ` (400), issuer scope (403), "
            "timestamp (400), nonce (409), then the message's own checks. A rejected message "
            "changes nothing and does not use up its nonce."
        ),
        "parameters": _ISS_PARAM,
        "requestBody": {
            "required": True,
            "description": f"The envelope; its payload is a `{payload}`.",
            "content": {
                "application/msgpack": {
                    "schema": _schema("Envelope"),
                    "x-payload": _schema(payload),
                }
            },
        },
        "responses": {
            **ok,
            **_errors(
                "BadMessage",
                "MessageRejected",
                "NotFound",
                conflict,
                "BodyTooLarge",
                "UnsupportedMediaType",
                *extra,
                "Unavailable",
            ),
        },
    }


_VERIFY_NOTE = (
    " Answers are JSON unless the highest-ranked `Accept` range is `application/msgpack` "
    "(same keys and values). A body with a Content-Encoding other than identity is 415. "
    "Precedence: 401/403, then 429, then 413, then 415, then 400."
)

_PATHS: dict[str, Schema] = {
    "/v1/verify": {
        "post": {
            "operationId": "verifyCode",
            "summary": "Verify one health code.",
            "tags": ["verification"],
            "description": (
                "Verifies one code as SPEC §3.1 does; the verdict is SPEC §3.2. Bodies over "
                "4 KiB are 413; a code over 1,024 bytes is a MALFORMED verdict." + _VERIFY_NOTE
            ),
            "security": [{_BEARER: ["verify"]}],
            "requestBody": {
                "required": True,
                "description": (
                    "One code: the envelope bytes, its text form (one trailing LF or CRLF "
                    'tolerated) or `{"code": "HCM1:…"}`.'
                ),
                "content": {
                    **_MSGPACK_ENVELOPE,
                    "text/plain": {
                        "schema": {
                            "type": "string",
                            "pattern": r"^HCM1:[A-Za-z0-9_-]+(\r?\n)?$",
                            "maxLength": _CODE_TEXT_MAX + 2,
                        }
                    },
                    "application/json": {"schema": _schema("VerifyRequest")},
                },
            },
            "responses": {
                "200": {"description": "The verdict, valid or not.", "content": _VERDICT_CONTENT},
                **_errors(
                    "BadRequest",
                    "Unauthenticated",
                    "Forbidden",
                    "BodyTooLarge",
                    "UnsupportedMediaType",
                    "RateLimited",
                    "Unavailable",
                ),
            },
        }
    },
    "/v1/verify/batch": {
        "post": {
            "operationId": "verifyBatch",
            "summary": "Verify up to 1,000 health codes in one call.",
            "tags": ["verification"],
            "description": (
                "Verdicts in input order, one per element; duplicates are answered one by one "
                "and `[]` answers `[]`. An element that is not a code (not bin, not a string) is "
                "a MALFORMED verdict in its place; a body of the wrong outer shape is 400. "
                "A batch of n codes costs n against the rate. Bodies over 2 MiB are 413."
                + _VERIFY_NOTE
            ),
            "security": [{_BEARER: ["verify"]}],
            "requestBody": {
                "required": True,
                "description": (
                    "A msgpack array of envelopes (bin; a str in text form is also taken), or "
                    '`{"codes": ["HCM1:…", …]}`; at most 1,000 codes.'
                ),
                "content": {
                    "application/msgpack": {
                        "schema": {
                            "type": "array",
                            "maxItems": 1000,
                            "items": {"description": "bin: one code's envelope bytes"},
                        }
                    },
                    "application/json": {"schema": _schema("BatchRequest")},
                },
            },
            "responses": {
                "200": {"description": "Verdicts in input order.", "content": _BATCH_CONTENT},
                **_errors(
                    "BadRequest",
                    "Unauthenticated",
                    "Forbidden",
                    "BatchTooLarge",
                    "UnsupportedMediaType",
                    "RateLimited",
                    "Unavailable",
                ),
            },
        }
    },
    "/v1/trustlist": {
        "get": {
            "operationId": "getTrustList",
            "summary": "Download the signed trust list.",
            "tags": ["trust list"],
            "description": (
                "The bytes of an `HCM1-TRUST` envelope signed by the hub's key (SPEC §6), "
                "`application/msgpack` whatever `Accept` says. One signed copy is shared by all "
                "workers, so the `ETag` is stable; verifiers refuse a list older than one they "
                "hold."
            ),
            "security": [{_BEARER: ["trustlist"]}],
            "parameters": [_ref("parameters", "IfNoneMatch")],
            "responses": {
                "200": {
                    "description": "The signed trust list.",
                    "headers": {"ETag": _ref("headers", "ETag")},
                    "content": {
                        "application/msgpack": {
                            "schema": _schema("Envelope"),
                            "x-payload": _schema("TrustListPayload"),
                        }
                    },
                },
                "304": {
                    "description": "`If-None-Match` names the current list; no body.",
                    "headers": {"ETag": _ref("headers", "ETag")},
                },
                **_errors("Unauthenticated", "Forbidden", "RateLimited", "Unavailable"),
            },
        }
    },
    "/v1/trustlist/key": {
        "get": {
            "operationId": "getTrustListKey",
            "summary": "The hub's trust-list signing key.",
            "tags": ["trust list"],
            "responses": {
                "200": {
                    "description": "Its algorithm and SPKI.",
                    "content": _json(_schema("TrustListKey")),
                },
                **_errors("Overloaded"),
            },
        }
    },
    "/v1/issuers/{iss}/keys": {
        "post": _management(
            "addKey",
            "Register a code-signing key of an issuer.",
            "key.add",
            "KeyAddPayload",
            {"201": {"description": "Registered.", "content": _json(_schema("KeyAdded"))}},
            "KeyConflict",
            "KeyRejected",
        )
    },
    "/v1/issuers/{iss}/keys/revoke": {
        "post": _management(
            "revokeKey",
            "Revoke a code-signing key of an issuer, permanently.",
            "key.revoke",
            "KeyRevokePayload",
            {
                "200": {
                    "description": "Revoked (also when it already was); 404 for a kid the issuer "
                    "does not hold.",
                    "content": _json(_schema("KeyRevoked")),
                }
            },
            "Replay",
        )
    },
    "/v1/issuers/{iss}/status": {
        "post": _management(
            "postStatus",
            "Push status (colour) changes of an issuer's subjects.",
            "status",
            "StatusPayload",
            {
                "200": {
                    "description": "Accepted only with `seq = mark + 1`; events apply in order, "
                    "each only when its sv is newer than the stored one.",
                    "content": _json(_schema("StatusApplied")),
                }
            },
            "StatusConflict",
        )
    },
    "/v1/issuers/{iss}/status/mark": {
        "get": {
            "operationId": "getMark",
            "summary": "The last applied status seq of an issuer.",
            "tags": ["issuers"],
            "parameters": _ISS_PARAM,
            "responses": {
                "200": {"description": "The mark; 0 at first.", "content": _json(_schema("Mark"))},
                **_errors("NotFound", "Unavailable"),
            },
        }
    },
    "/healthz": {
        "get": {
            "operationId": "healthz",
            "summary": "Liveness: 200 while the process serves.",
            "tags": ["operations"],
            "responses": {"200": {"description": "Serving.", "content": _json(_schema("Health"))}},
        }
    },
    "/readyz": {
        "get": {
            "operationId": "readyz",
            "summary": "Readiness: Redis reachable and trust registry loaded.",
            "tags": ["operations"],
            "responses": {
                "200": {"description": "Ready.", "content": _json(_schema("Readiness"))},
                "503": {
                    "description": "Not ready, with the reasons.",
                    "headers": _RETRY_AFTER,
                    "content": _json(_schema("Readiness")),
                },
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "tags": ["operations"],
            "responses": {
                "200": {
                    "description": "The OpenAPI 3.1 document of the hub.",
                    "content": _json({"type": "object"}),
                },
                **_errors("Overloaded"),
            },
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics, totals over all workers.",
            "tags": ["operations"],
            "description": (
                "The metrics of SPEC §7. An operator view: a deployment may serve it on "
                "`admin_listen` instead of the main listener."
            ),
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format.",
                    "content": {
                        "text/plain; version=0.0.4": {"schema": {"type": "string"}},
                    },
                }
            },
        }
    },
    **dashboard_schema.PATHS,
}

# ---------------------------------------------------------------- the document

_DESCRIPTION = """\
The national hub of HCM/1, the health-code mutual-recognition contract (`SPEC.md`).

- Verifier clients post codes to verify, one or a batch (§3.1 steps, §3.2 verdicts, §5), with a \
bearer token of the `verify` scope, and download the signed trust list (§6) with `trustlist`.
- Issuers register and revoke their code-signing keys and push status changes as signed \
`HCM1-ADMIN` messages (§4); no token, the signature authenticates.
- Every 4xx and 5xx answer is `{"error", "detail"}` JSON (§7); 405 carries `Allow`, 429 and 503 \
carry `Retry-After`. Precedence: 404/405, then 401/403, then 429, then 413, then 415, then 400.
- Envelopes and codes are msgpack (§2); `kid` and `cid` travel as base64url without padding.
- Every GET also answers HEAD; there are no trailing-slash redirects.
"""

_DOCUMENT: dict[str, object] = {
    "openapi": "3.1.0",
    "info": {
        "title": "HCM/1 health-code gateway",
        "version": "1.0.0",
        "summary": "Verify health codes of any province; keep the trust registry and statuses.",
        "description": _DESCRIPTION,
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    },
    "tags": [
        {"name": "verification", "description": "Verifier clients (SPEC §3, §5)."},
        {"name": "trust list", "description": "The signed trust list (SPEC §6)."},
        {"name": "issuers", "description": "Management messages from issuers (SPEC §4)."},
        {
            "name": "operations",
            "description": "Health, readiness, this document, metrics and the dashboard (§7).",
        },
    ],
    "security": [],
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "responses": _RESPONSES,
        "parameters": {
            "Iss": {
                "name": "iss",
                "in": "path",
                "required": True,
                "description": "Issuer code: GB/T 2260 province-level, six ASCII digits (SPEC §1).",
                "schema": _ISS,
            },
            "IfNoneMatch": {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "The `ETag` of the list held; 304 when it is still current.",
                "schema": {"type": "string"},
            },
        },
        "headers": {
            "RetryAfter": {
                "description": "Whole seconds to wait, at least 1.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            },
            "ETag": {
                "description": "A hash of the trust list's bytes, stable across workers.",
                "required": True,
                "schema": {"type": "string"},
            },
        },
        "securitySchemes": {
            _BEARER: {
                "type": "http",
                "scheme": "bearer",
                "description": (
                    "`Authorization: Bearer <token>` (scheme case-insensitive): a client token of "
                    "at least 128 bits enrolled by the operator with its scopes (`verify`, "
                    "`trustlist`) and rate (SPEC §5). Missing or unknown: 401; missing scope: 403."
                ),
            }
        },
    },
}


def openapi_document(server_url: str | None = None) -> dict[str, object]:
    """The hub's OpenAPI 3.1 document; ``servers`` names ``server_url`` when given."""
    document = copy.deepcopy(_DOCUMENT)
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
