"""Every error the hub answers with (SPEC §7), as one exception tree.

    HcgwError                      error code, HTTP status, detail, extra fields, headers
    ├── BadRequest                 400 bad_request
    │   └── BadTimestamp           400 bad_timestamp
    ├── Unauthenticated            401 unauthenticated
    ├── Forbidden                  403 forbidden
    │   ├── IssuerScope            403 issuer_scope
    │   └── BadSignature           403 bad_signature
    ├── NotFound                   404 not_found
    ├── MethodNotAllowed           405 method_not_allowed (Allow)
    ├── Conflict                   409
    │   ├── Replay                 409 replay
    │   ├── StaleSeq               409 stale_seq (mark)
    │   ├── SeqGap                 409 seq_gap (mark)
    │   └── KidCollision           409 kid_collision
    ├── BodyTooLarge               413 body_too_large
    ├── BatchTooLarge              413 batch_too_large
    ├── UnsupportedMediaType       415 unsupported_media_type
    ├── WeakKey                    422 weak_key
    ├── InvalidKey                 422 invalid_key
    ├── RateLimited                429 rate_limited (Retry-After)
    ├── Overloaded                 503 overloaded (Retry-After)
    └── Unavailable                503 unavailable (Retry-After)

The web layer renders any of them as ``{"error", "detail"}`` in one middleware; nothing else
builds error responses. ``Unavailable`` is also what the store raises when Redis fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class HcgwError(Exception):
    error: ClassVar[str] = "internal"
    status: ClassVar[int] = 500

    def __init__(
        self,
        detail: str,
        *,
        extra: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        return {"error": self.error, "detail": self.detail, **self.extra}


class BadRequest(HcgwError):
    error, status = "bad_request", 400


class BadTimestamp(BadRequest):
    error = "bad_timestamp"


class Unauthenticated(HcgwError):
    error, status = "unauthenticated", 401


class Forbidden(HcgwError):
    error, status = "forbidden", 403


class IssuerScope(Forbidden):
    error = "issuer_scope"


class BadSignature(Forbidden):
    error = "bad_signature"


class NotFound(HcgwError):
    error, status = "not_found", 404


class MethodNotAllowed(HcgwError):
    error, status = "method_not_allowed", 405


class Conflict(HcgwError):
    status = 409


class Replay(Conflict):
    error = "replay"


class _MarkConflict(Conflict):
    def __init__(self, detail: str, *, mark: int) -> None:
        super().__init__(detail, extra={"mark": mark})
        self.mark = mark


class StaleSeq(_MarkConflict):
    error = "stale_seq"


class SeqGap(_MarkConflict):
    error = "seq_gap"


class KidCollision(Conflict):
    error = "kid_collision"


class BodyTooLarge(HcgwError):
    error, status = "body_too_large", 413


class BatchTooLarge(HcgwError):
    error, status = "batch_too_large", 413


class UnsupportedMediaType(HcgwError):
    error, status = "unsupported_media_type", 415


class WeakKey(HcgwError):
    error, status = "weak_key", 422


class InvalidKey(HcgwError):
    error, status = "invalid_key", 422


class _RetryLater(HcgwError):
    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class RateLimited(_RetryLater):
    error, status = "rate_limited", 429


class Overloaded(_RetryLater):
    error, status = "overloaded", 503


class Unavailable(_RetryLater):
    error, status = "unavailable", 503
