"""The hub's Prometheus metrics (SPEC §7), in one object built by ``create_app``.

No default registry and no module state: each app owns a ``CollectorRegistry``. Label values come
only from fixed sets (enrolled issuers or ``unknown``, reasons, routes), never from a client.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.core.model import Reason, Verdict

# Sub-millisecond resolution for the hot path, up to the 1 s Redis deadline and past it.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.0075,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class Metrics:
    def __init__(self, issuers: Iterable[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._issuers = frozenset(issuers)
        r = self.registry
        self.verifications = Counter(
            "hcgw_verifications",
            "Codes verified, by issuer and outcome",
            ["iss", "outcome"],
            registry=r,
        )
        self.request_duration = Histogram(
            "hcgw_request_duration_seconds",
            "Request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache = Counter(
            "hcgw_cache", "Signature-outcome cache lookups", ["layer", "outcome"], registry=r
        )
        self.status_events = Counter(
            "hcgw_status_events", "Status events applied", ["iss"], registry=r
        )
        self.trust_keys = Gauge(
            "hcgw_trust_keys", "Registered code-signing keys", ["iss", "state"], registry=r
        )
        self.redis_up = Gauge("hcgw_redis_up", "1 when the last Redis call succeeded", registry=r)
        self.inflight = Gauge("hcgw_inflight_requests", "Requests being served", registry=r)
        self.rejected = Counter(
            "hcgw_rejected",
            "Requests refused before or instead of their work",
            ["reason"],
            registry=r,
        )
        self.trust_version = Gauge(
            "hcgw_trust_list_version", "Registry version this worker verifies with", registry=r
        )

    def issuer_label(self, iss: str | None) -> str:
        return iss if iss in self._issuers else "unknown"

    def count_verdict(self, verdict: Verdict) -> None:
        if verdict.valid and verdict.colour is not None:
            outcome = verdict.colour.label
        else:
            outcome = (verdict.reason or Reason.MALFORMED).value.lower()
        self.verifications.labels(self.issuer_label(verdict.iss), outcome).inc()
