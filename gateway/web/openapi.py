"""The OpenAPI 3.1 document of the hub (SPEC §7), built from ``openapi.yaml`` and the code.

The document's words are data (``openapi.yaml`` beside this module); its closed sets and limits
are not copied there but filled in at load from the code that enforces them (:data:`CONTRACT`:
the ``Reason`` enum, the error tree of ``gateway.errors`` with each code's status, ``MAX_INT``,
the body and batch limits of ``web.bodies``, the event limit of ``core.admin``), and its paths are
the routes of ``web.routes``. Filled rather than checked: a check needs a second list saying
where in the document each value sits, which is one more copy to drift; filled, adding a reason
or an error code is a change to the one file that defines it. What cannot be filled is checked
here, and :func:`build_document` raises :class:`DocumentError` naming the problem: every reason
in exactly one row of SPEC §3.2's table (the Verdict schema's ``allOf``), every error code in an
error response, an error response's codes of one status, every route with its operation and every
operation with its route. The hub builds the document once, at import.

Binary bodies (``application/msgpack``) are described by their msgpack data model: an array is
an array, a ``bin`` is an item whose description says so (JSON Schema has no byte-string type).
Their examples are strings, as OpenAPI 3.1 says for media types JSON cannot hold: the body's
bytes in base64.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import yaml

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml: the same loader, 8x slower (80 ms)
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

from gateway.core.admin import MAX_EVENTS
from gateway.core.model import (
    ADMIN_ENVELOPE_MAX,
    CLOCK_SKEW,
    CODE_ENVELOPE_MAX,
    MAX_INT,
    Alg,
    Colour,
    Reason,
)
from gateway.core.trustlist import LIFETIME
from gateway.errors import HcgwError
from gateway.web import bodies, dashboard_schema

__all__ = ["CONTRACT", "ERROR_STATUSES", "REASONS", "DocumentError", "build_document"]

Schema = dict[str, Any]


class DocumentError(ValueError):
    """``openapi.yaml`` disagrees with the code; the message says where and how."""


@dataclass(frozen=True, slots=True)
class Value:
    """A value of the contract: as the document's schemas hold it, and as its prose says it."""

    value: object
    text: str


def _count(n: int, unit: str = "") -> Value:
    return Value(n, f"{n:,}{unit}")


def _size(n: int) -> Value:
    """A body limit, in MiB or KiB as the SPEC writes them."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % size == 0:
            return Value(n, f"{n // size} {unit}")
    return _count(n, " bytes")


def _names(values: Sequence[object]) -> Value:
    return Value(list(values), ", ".join(map(str, values)))


def error_statuses(root: type[HcgwError] = HcgwError) -> dict[str, int]:
    """Every error code of the tree under ``root`` and its HTTP status, in the tree's order.

    A class that names no code of its own (``Conflict``, the private bases) adds none; the root's
    ``internal`` is the 500 of a bug, not a code of SPEC §7.
    """
    out: dict[str, int] = {}

    def walk(cls: type[HcgwError]) -> None:
        for sub in cls.__subclasses__():
            if sub.error != root.error and out.setdefault(sub.error, sub.status) != sub.status:
                raise DocumentError(f"error code {sub.error!r} has two statuses in the tree")
            walk(sub)

    walk(root)
    return out


REASONS = [reason.value for reason in Reason]
ERROR_STATUSES = error_statuses()
# base64url of the largest code envelope: 4 characters per 3 bytes, no padding
_CODE_TEXT_MAX = len("HCM1:") + (CODE_ENVELOPE_MAX * 4 + 2) // 3


def contract(reasons: Sequence[str], error_codes: Iterable[str]) -> dict[str, Value]:
    """What ``${NAME}`` stands for in ``openapi.yaml``."""
    return {
        "REASONS": _names(reasons),
        "REASONS_OR_NULL": _names([*reasons, None]),
        "ERROR_CODES": _names(list(error_codes)),
        "ALGS": _names([alg.value for alg in Alg]),
        "COLOURS_OR_NULL": _names([*(c.label for c in Colour), None]),
        "COLOUR_VALUES": _names([c.value for c in Colour]),
        "MAX_INT": Value(MAX_INT, "2^53 − 1"),
        "MAX_BATCH": _count(bodies.MAX_BATCH),
        "MAX_EVENTS": _count(MAX_EVENTS),
        "SINGLE_MAX": _size(bodies.SINGLE_MAX),
        "BATCH_MAX": _size(bodies.BATCH_MAX),
        "ADMIN_MAX": _size(bodies.ADMIN_MAX),
        "CODE_ENVELOPE_MAX": _count(CODE_ENVELOPE_MAX, " bytes"),
        "ADMIN_ENVELOPE_MAX": _size(ADMIN_ENVELOPE_MAX),
        "CODE_TEXT_MAX": _count(_CODE_TEXT_MAX),
        "CODE_TEXT_BODY_MAX": _count(_CODE_TEXT_MAX + 2),  # and a CRLF
        "CLOCK_SKEW": Value(CLOCK_SKEW, str(CLOCK_SKEW)),
        "TRUST_LIST_LIFETIME": Value(LIFETIME, str(LIFETIME)),
    }


CONTRACT = contract(REASONS, ERROR_STATUSES)


class Route(Protocol):
    """What the document needs of a route (``web.routes.Route``)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def operation_id(self) -> str: ...


# ---------------------------------------------------------------- ${NAME} and ${NAME:A..B}

_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)(?::([A-Z_]+)\.\.([A-Z_]+))?\}")


def _resolve(match: re.Match[str], values: Mapping[str, Value]) -> Value:
    name, first, last = match.groups()
    if name not in values:
        raise DocumentError(f"openapi.yaml names ${{{name}}}, which openapi.CONTRACT does not hold")
    found = values[name]
    if first is None:
        return found
    members = found.value
    if not isinstance(members, list) or first not in members or last not in members:
        raise DocumentError(f"{match.group(0)}: {first} and {last} must both be in {name}")
    span = members[members.index(first) : members.index(last) + 1]
    if not span:
        raise DocumentError(f"{match.group(0)}: {last} comes before {first} in {name}")
    return _names(span)


def _fill(node: Any, values: Mapping[str, Value]) -> Any:
    """A copy of ``node`` with every ``${...}`` replaced (YAML aliases become separate copies)."""
    if isinstance(node, dict):
        return {_fill(k, values): _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if not isinstance(node, str):
        return node
    whole = _PLACEHOLDER.fullmatch(node)
    if whole:
        return copy.deepcopy(_resolve(whole, values).value)
    text = _PLACEHOLDER.sub(lambda m: _resolve(m, values).text, node)
    if "${" in text:
        raise DocumentError(f"openapi.yaml: a malformed placeholder in {node!r}")
    return text


# ---------------------------------------------------------------- error responses


def _error_responses(responses: dict[str, Schema], statuses: Mapping[str, int]) -> dict[str, int]:
    """Expand each ``x-error-codes`` into its content; the status of each such response."""
    status_of: dict[str, int] = {}
    for name, response in responses.items():
        codes = response.pop("x-error-codes", None)
        if codes is None:
            continue
        unknown = [c for c in codes if c not in statuses]
        if unknown:
            raise DocumentError(
                f"error response {name} names {unknown}, which gateway/errors.py does not define"
            )
        found = {statuses[c] for c in codes}
        if len(found) != 1:
            raise DocumentError(f"error response {name} mixes statuses {sorted(found)}: {codes}")
        (status_of[name],) = found
        headers = response.pop("headers", None)
        error = {"allOf": [_ref("schemas", "Error"), {"properties": {"error": {"enum": codes}}}]}
        response["content"] = {"application/json": {"schema": error}}
        if headers:
            response["headers"] = headers
    listed = {c for r in responses.values() for c in _codes_of(r)}
    for code, status in statuses.items():
        if code not in listed:
            raise DocumentError(
                f"error code {code!r} ({status}) is in no error response of openapi.yaml: "
                "add it to one under components.responses (x-error-codes)"
            )
    return status_of


def _codes_of(response: Schema) -> list[str]:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    parts = schema.get("allOf", [{}, {}])
    return list(parts[-1].get("properties", {}).get("error", {}).get("enum", []))


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _operation_errors(op_id: str, operation: Schema, status_of: Mapping[str, int]) -> None:
    for name in operation.pop("x-error-responses", []):
        if name not in status_of:
            raise DocumentError(f"operation {op_id} lists {name}, which is no error response")
        status = str(status_of[name])
        if status in operation["responses"]:
            raise DocumentError(f"operation {op_id}: two responses for {status} ({name})")
        operation["responses"][status] = _ref("responses", name)


# ---------------------------------------------------------------- paths and the verdict table


def _paths(routes: Iterable[Route], operations: dict[str, Schema]) -> dict[str, Schema]:
    paths: dict[str, Schema] = {}
    for route in routes:
        operation = operations.pop(route.operation_id, None)
        if operation is None:
            raise DocumentError(
                f"route {route.method} {route.path} has no operation {route.operation_id!r} "
                "in openapi.yaml"
            )
        item = paths.setdefault(route.path, {})
        item[route.method.lower()] = {"operationId": route.operation_id, **operation}
    if operations:
        raise DocumentError(
            f"operations {sorted(operations)} of openapi.yaml have no route in web/routes.py"
        )
    return paths


def _check_verdict_rows(verdict: Schema, reasons: Sequence[str]) -> None:
    """Every reason in exactly one row of SPEC §3.2's table of filled fields."""
    rows: dict[str, int] = {}
    for row, part in enumerate(verdict["allOf"]):
        condition = part["if"]["properties"].get("reason")
        if condition is None:
            continue
        named = [condition["const"]] if "const" in condition else condition["enum"]
        for reason in named:
            if reason not in reasons:
                raise DocumentError(f"the Verdict table names {reason}, which is not a Reason")
            if rows.setdefault(reason, row) != row:
                raise DocumentError(f"reason {reason} is in two rows of the Verdict table")
    for reason in reasons:
        if reason not in rows:
            raise DocumentError(
                f"reason {reason} is in no row of the Verdict schema's table of filled fields "
                "(SPEC §3.2, openapi.yaml components.schemas.Verdict.allOf): add it to its row"
            )


# ---------------------------------------------------------------- the document


def _source() -> Schema:
    text = (resources.files("gateway.web") / "openapi.yaml").read_text(encoding="utf-8")
    loaded: Schema = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader, below
    return loaded


class _StrictLoader(_SafeLoader):
    """PyYAML's safe loader, refusing a key written twice (it would keep the last silently).
    A key merged in with ``<<`` may be overridden: that is what merging is for."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [k.value for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise DocumentError(f"openapi.yaml line {node.start_mark.line + 1}: {twice} twice")
        return super().construct_mapping(node, deep=deep)


def build_document(
    routes: Iterable[Route],
    *,
    reasons: Sequence[str] = REASONS,
    error_codes: Mapping[str, int] = ERROR_STATUSES,
) -> dict[str, object]:
    """The OpenAPI document of ``routes``, filled from the code; :class:`DocumentError` if they
    disagree. ``reasons`` and ``error_codes`` are the ``Reason`` enum's values and the error tree's
    codes with their statuses: tests pass others to see the document follow or refuse."""
    source = _source()
    document: Schema = _fill(source, contract(reasons, error_codes))
    components = document["components"]
    components["schemas"]["DashboardData"] = copy.deepcopy(dashboard_schema.DASHBOARD_DATA)
    _check_verdict_rows(components["schemas"]["Verdict"], reasons)
    status_of = _error_responses(components["responses"], error_codes)
    operations: dict[str, Schema] = document.pop("operations")
    for item in copy.deepcopy(dashboard_schema.PATHS).values():
        for operation in item.values():
            operations[operation.pop("operationId")] = operation
    for op_id, operation in operations.items():
        _operation_errors(op_id, operation, status_of)
    paths = _paths(routes, operations)
    return {**_without(document, "components"), "paths": paths, "components": components}


def _without(document: Schema, key: str) -> Schema:
    return {k: v for k, v in document.items() if k != key}
