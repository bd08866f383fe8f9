"""The OpenAPI description of the operator views ``GET /dashboard`` and ``GET /dashboard/data``.

``gateway.web.openapi`` adds these paths and the ``DashboardData`` schema to the document; the
tests validate real answers against it. Rates are per second over ``window`` and ``null`` on a
worker's first poll; totals count since the metrics began, over all workers.
"""

from __future__ import annotations

from typing import Any

from gateway.metrics.catalogue import COLOURS, KEY_STATES, REJECTIONS
from gateway.operator.figures import REASONS, STATUS_CLASSES, VERIFY_ROUTES

Schema = dict[str, Any]

_NUM: Schema = {"type": "number"}
_MAYBE: Schema = {"type": ["number", "null"]}
_COUNTED: Schema = {
    "type": "object",
    "required": ["total", "rate"],
    "additionalProperties": False,
    "properties": {"total": _NUM, "rate": _MAYBE},
}


def _each(names: tuple[str, ...], schema: Schema) -> Schema:
    return {
        "type": "object",
        "required": list(names),
        "additionalProperties": False,
        "properties": dict.fromkeys(names, schema),
    }


def _object(properties: dict[str, Schema], description: str | None = None) -> Schema:
    out: Schema = {
        "type": "object",
        "required": list(properties),
        "additionalProperties": False,
        "properties": properties,
    }
    if description:
        out["description"] = description
    return out


_PERCENTILES = _object(
    {"p50": _MAYBE, "p90": _MAYBE, "p99": _MAYBE, "count": _NUM},
    "Seconds, estimated from histogram buckets over the window; null without observations.",
)
_LAYER = _object({"hits": _NUM, "misses": _NUM, "hit_ratio": _MAYBE, "window_hit_ratio": _MAYBE})
_TILE = _object(
    {
        "iss": {"type": "string", "pattern": "^[0-9]{6}$"},
        "zh": {"type": "string"},
        "en": {"type": "string"},
        "x": {"type": "integer", "minimum": 0},
        "y": {"type": "integer", "minimum": 0},
        "enrolled": {"type": "boolean"},
        "total": _NUM,
        "rate": _MAYBE,
        "red_rate": _MAYBE,
        "red_share": _MAYBE,
        "red_share_baseline": _MAYBE,
        "red_spike": {"type": "boolean"},
    },
    "One of the 32 issuers of SPEC §1 with its place on the tile map.",
)
_EVENT = {
    "type": "object",
    "required": ["at", "action", "outcome"],
    "additionalProperties": False,
    "properties": {
        "at": {**_NUM, "description": "Unix seconds (hub clock)"},
        "iss": {"type": "string"},
        "action": {"enum": ["key.add", "key.revoke", "status"]},
        "outcome": {"type": "string", "description": "`ok` or the error code of SPEC §7"},
        "kid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{11}$"},
        "seq": {"type": "integer", "minimum": 0},
        "events": {"type": "integer", "minimum": 0},
        "applied": {"type": "integer", "minimum": 0},
    },
}

DASHBOARD_DATA: Schema = {
    **_object(
        {
            "at": {**_NUM, "description": "The hub's clock, Unix seconds."},
            "pid": {"type": "integer", "description": "The answering worker process."},
            "window": {
                **_MAYBE,
                "description": "Seconds the rates are over; null on a worker's first poll.",
            },
            "verifications": _object(
                {
                    "total": _NUM,
                    "rate": _MAYBE,
                    "by_colour": _each(COLOURS, _COUNTED),
                    "by_reason": _each(REASONS, _COUNTED),
                    "red_share": {
                        **_MAYBE,
                        "description": "Red codes over all codes verified in the window.",
                    },
                }
            ),
            "issuers": {"type": "array", "minItems": 32, "maxItems": 32, "items": _TILE},
            "cache": _object(
                {"local": _LAYER, "redis": _LAYER, "local_entries": _MAYBE},
            ),
            "latency": _each(VERIFY_ROUTES, _PERCENTILES),
            "requests": _object(
                {
                    "total": _NUM,
                    "rate": _MAYBE,
                    "inflight": _MAYBE,
                    "rejected": _each(REJECTIONS, _COUNTED),
                    "errors": {
                        **_each(STATUS_CLASSES, _COUNTED),
                        "description": "Error answers by HTTP status (from their error codes).",
                    },
                    "server_errors_rate": _MAYBE,
                }
            ),
            "redis": _object(
                {
                    "up": {"type": "boolean"},
                    "ping_seconds": _MAYBE,
                    "keys": _MAYBE,
                    "errors": _NUM,
                    "lookup": _PERCENTILES,
                }
            ),
            "trust": _object(
                {
                    "version": _MAYBE,
                    "issued_at": _MAYBE,
                    "expires_at": _MAYBE,
                    "keys": _each(KEY_STATES, _NUM),
                    "expiring": _NUM,
                }
            ),
            "status": _object({"total": _NUM, "rate": _MAYBE, "lag": _PERCENTILES}),
            "events": {
                "type": "array",
                "maxItems": 60,
                "items": _EVENT,
                "description": (
                    "Newest first: the 20 newest management writes, and the 20 newest key "
                    "writes and refusals however old, each once."
                ),
            },
        },
        "What the dashboard shows, from the same metrics /metrics renders (all workers).",
    ),
}

PATHS: dict[str, Schema] = {
    "/dashboard": {
        "get": {
            "operationId": "dashboard",
            "summary": "The live operator dashboard (one self-contained HTML page).",
            "tags": ["operations"],
            "description": (
                "An operator view, served with /metrics (on `admin_listen` when it is set). The "
                "page polls `/dashboard/data` every second; it loads nothing else."
            ),
            "responses": {
                "200": {
                    "description": "The page.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/dashboard/data": {
        "get": {
            "operationId": "dashboardData",
            "summary": "The dashboard's numbers: rates, tiles, caches, latency, Redis, trust.",
            "tags": ["operations"],
            "parameters": [
                {
                    "name": "window",
                    "in": "query",
                    "required": False,
                    "description": "Seconds the rates are computed over (default 5).",
                    "schema": {"type": "number", "minimum": 1, "maximum": 60, "default": 5},
                }
            ],
            "responses": {
                "200": {
                    "description": "The numbers.",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/DashboardData"}
                        }
                    },
                },
                "400": {"$ref": "#/components/responses/BadRequest"},
            },
        }
    },
}
