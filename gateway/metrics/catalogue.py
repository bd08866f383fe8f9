"""Every metric of the hub (SPEC §7, and what an operator needs on a bad day), in one object.

``create_app`` builds one :class:`Metrics` per process, with its own registry (STYLE 16). Label
values come only from sets fixed at start: the enrolled issuers and ``unknown``, the outcomes
(colours and reasons), the error codes of ``gateway.errors``, the cache layers, the enrolled
clients, the app's routes. Never a kid, a token or anything else a client sent.

The hot path only touches children bound once here (``labels()`` takes a lock and costs as much
as the increment), and a request counts its codes once per distinct label, not once per code:
in multi-process mode every increment is a write to a shared memory map.

Every series is exposed without a ``_created`` twin (prometheus-client's process-wide switch, set
by :class:`Metrics`): Prometheus 2 stores it as one more series per counter and never reads it.

Gauges of one process's memory (requests in flight, local cache entries) are read when they are
exposed (:meth:`Metrics.publish`), never set per request. Gauges of shared state (Redis, the trust
registry, the signed list) are set by whichever worker is scraped, just before it answers; across
workers they keep the most recent value any live worker wrote.
"""

from __future__ import annotations

import bisect
import functools
import platform
import shutil
import subprocess
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from gateway.core.model import Reason, Verdict
from gateway.core.trust import TrustSnapshot
from gateway.errors import HcgwError
from gateway.metrics.events import ManagementEvents
from gateway.metrics.exposition import Publisher, multiprocess_dir

# Sub-millisecond resolution for the hot path, up to the 1 s Redis deadline and past it.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.0025, 0.005, 0.0075,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
# Status-event lag: from "the issuer decided" (``at``) to "the hub applied it".
LAG_BUCKETS = (
    0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0,
)  # fmt: skip
EXPIRING_WITHIN = 86_400  # a key whose naf is this close is "expiring"

COLOURS = ("green", "yellow", "red")
OUTCOMES = (*COLOURS, *(r.value.lower() for r in Reason))
LAYERS = ("local", "redis")
KEY_STATES = ("active", "revoked", "expired")
REJECTIONS = ("body_too_large", "batch_too_large", "rate_limited", "overloaded", "unavailable")
CLIENT_REJECTIONS = ("rate_limited", "unavailable")
REDIS_OPS = ("lookup", "ping")
UNKNOWN = "unknown"
# The ``method`` label: the methods of HTTP itself; any other the parser lets through is "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
OTHER_METHOD = "other"
UNPARSED = "(unparsed)"  # the route of a request refused before routing (parser, connection cap)


def _error_codes() -> tuple[str, ...]:
    codes, todo = set(), [HcgwError]
    while todo:
        cls = todo.pop()
        codes.add(cls.error)
        todo.extend(cls.__subclasses__())
    return tuple(sorted(codes))


ERRORS = _error_codes()  # every ``error`` of SPEC §7, and ``internal`` for a 500


@functools.cache
def build() -> tuple[str, str, str]:
    """``hcgw_build_info``'s labels: the installed version, the git revision, Python's version.

    The revision is read once per process, and only from a checkout whose top is the one this
    package lives in (an installed copy inside some other repository must not borrow its HEAD);
    ``unknown`` without git or a checkout.
    """
    try:
        version = metadata.version("hcgw")
    except metadata.PackageNotFoundError:
        version = UNKNOWN
    top, git = Path(__file__).resolve().parent.parent.parent, shutil.which("git")
    revision = UNKNOWN
    try:
        done = subprocess.run(  # noqa: S603 - git found on PATH, fixed arguments
            [git or "git", "-C", str(top), "rev-parse", "--show-toplevel", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
        lines = done.stdout.split()
        if done.returncode == 0 and len(lines) == 2 and Path(lines[0]).resolve() == top:
            revision = lines[1]
    except (OSError, subprocess.SubprocessError):
        pass  # no git, or not a checkout: the revision is unknown
    return version, revision, platform.python_version()


class Metrics:
    def __init__(self, issuers: Iterable[str], clients: Iterable[str] = ()) -> None:
        # The library's switch is process-wide (and untyped); the hub wants no _created anywhere.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = multiprocess_dir()
        self._issuers = frozenset(issuers)
        self.issuer_labels = (*sorted(self._issuers), UNKNOWN)
        self.events = ManagementEvents(self.multiprocess_dir)
        self._publisher = Publisher(self.multiprocess_dir is not None)
        r = self.registry

        # ---- SPEC §7
        self.verifications = Counter(
            "hcgw_verifications", "Codes verified, by issuer and outcome", ["iss", "outcome"],
            registry=r,
        )  # fmt: skip
        self._verdicts = {
            (iss, o): self.verifications.labels(iss, o)
            for iss in self.issuer_labels
            for o in OUTCOMES
        }
        self.request_duration = Histogram(
            "hcgw_request_duration_seconds", "Request latency by route", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._routes: dict[str, Histogram] = {}
        self.requests = Counter(
            "hcgw_requests", "Answers by route pattern, method and HTTP status",
            ["route", "method", "code"], registry=r,
        )  # fmt: skip
        self._answers: dict[tuple[str, str, int], Counter] = {}
        self.cache = Counter(
            "hcgw_cache", "Signature-outcome cache lookups", ["layer", "outcome"], registry=r
        )
        self.local_hit, self.local_miss = (
            self.cache.labels("local", "hit"),
            self.cache.labels("local", "miss"),
        )
        self.redis_hit, self.redis_miss = (
            self.cache.labels("redis", "hit"),
            self.cache.labels("redis", "miss"),
        )
        self.status_events = Counter(
            "hcgw_status_events", "Status events applied", ["iss"], registry=r
        )
        self._status_events = {iss: self.status_events.labels(iss) for iss in self.issuer_labels}
        self.trust_keys = Gauge(
            "hcgw_trust_keys", "Registered code-signing keys", ["iss", "state"], registry=r,
            multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.redis_up = Gauge(
            "hcgw_redis_up", "1 when the last Redis call or ping succeeded", registry=r,
            multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.inflight = Gauge(
            "hcgw_inflight_requests", "Requests being served", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.rejected = Counter(
            "hcgw_rejected", "Requests refused before or instead of their work", ["reason"],
            registry=r,
        )  # fmt: skip
        self._rejected = {reason: self.rejected.labels(reason) for reason in REJECTIONS}
        self.trust_version = Gauge(
            "hcgw_trust_list_version",
            "Version of the trust list (SPEC §6: registry changes + 1) the hub serves",
            registry=r, multiprocess_mode="livemostrecent",
        )  # fmt: skip

        # ---- beyond SPEC §7: the build, errors, clients, Redis, caches, statuses, keys
        self.build_info = Gauge(
            "hcgw_build_info", "Always 1: the hub's version, git revision and Python version",
            ["version", "revision", "python_version"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.build_info.labels(*build()).set(1)
        self.errors = Counter(
            "hcgw_errors", "Error answers (4xx and 5xx) by error code and route pattern",
            ["error", "route"], registry=r,
        )  # fmt: skip
        self._errors: dict[tuple[str, str], Counter] = {}
        self.client_requests = Counter(
            "hcgw_client_requests", "Verification and trust-list requests by client", ["client"],
            registry=r,
        )  # fmt: skip
        self.client_codes = Counter(
            "hcgw_client_codes", "Codes sent for verification, by client", ["client"], registry=r
        )
        self.client_rejected = Counter(
            "hcgw_client_rejected", "Requests of a client refused, by reason",
            ["client", "reason"], registry=r,
        )  # fmt: skip
        self._clients: dict[str, tuple[Counter, Counter, dict[str, Counter]]] = {}
        for client in clients:
            self._client(client)
        self.redis_lookup = Histogram(
            "hcgw_redis_lookup_seconds",
            "How long a verification waited for its Redis lookup (coalesced round trip; none "
            "when answered from memory under a lease)",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.redis_errors = Counter(
            "hcgw_redis_errors", "Redis calls that failed or timed out", ["op"], registry=r
        )
        self._redis_errors = {op: self.redis_errors.labels(op) for op in REDIS_OPS}
        self.redis_ping = Gauge(
            "hcgw_redis_ping_seconds", "Round trip of the last PING, at scrape", registry=r,
            multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.redis_keys = Gauge(
            "hcgw_redis_keys", "Keys in Redis (DBSIZE, at scrape): statuses, cached outcomes",
            registry=r, multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.local_entries = Gauge(
            "hcgw_local_cache_entries", "Entries in the workers' local signature caches",
            registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.status_lag = Histogram(
            "hcgw_status_event_lag_seconds",
            "Age of status events when the hub accepted them (now - at)",
            buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.keys_expiring = Gauge(
            "hcgw_trust_keys_expiring",
            f"Active keys whose naf is within {EXPIRING_WITHIN // 3600} h",
            ["iss"], registry=r, multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.signing_until = Gauge(
            "hcgw_trust_signing_until_timestamp_seconds",
            "Latest naf among an issuer's active keys (0: none): when its codes stop verifying",
            ["iss"], registry=r, multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.list_issued = Gauge(
            "hcgw_trust_list_issued_timestamp_seconds", "iat of the signed trust list served",
            registry=r, multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.list_expires = Gauge(
            "hcgw_trust_list_expiry_timestamp_seconds", "exp of the signed trust list served",
            registry=r, multiprocess_mode="livemostrecent",
        )  # fmt: skip

    # ---------------------------------------------------------------- labels

    def issuer_label(self, iss: str | None) -> str:
        return iss if iss is not None and iss in self._issuers else UNKNOWN

    # ---------------------------------------------------------------- the hot path

    def count_verdicts(self, verdicts: Sequence[Verdict]) -> None:
        if len(verdicts) == 1:
            self._verdict_child(verdicts[0]).inc()
            return
        tally: Tally[Counter] = Tally(self._verdict_child(v) for v in verdicts)
        for child, n in tally.items():
            child.inc(n)

    def _verdict_child(self, verdict: Verdict) -> Counter:
        if verdict.valid and verdict.colour is not None:
            outcome = COLOURS[verdict.colour]
        else:
            outcome = (verdict.reason or Reason.MALFORMED).value.lower()
        child = self._verdicts.get((verdict.iss, outcome))  # type: ignore[arg-type]
        return child if child is not None else self._verdicts[UNKNOWN, outcome]

    def count_local_cache(self, hits: int, misses: int) -> None:
        if hits:
            self.local_hit.inc(hits)
        if misses:
            self.local_miss.inc(misses)

    def count_redis_cache(self, hits: int, misses: int) -> None:
        # Once per request, not per code: with workers, each inc is a locked write to a
        # memory-mapped file (prometheus-client's multiprocess mode).
        if hits:
            self.redis_hit.inc(hits)
        if misses:
            self.redis_miss.inc(misses)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answer: its latency by route, and its count by route, method and status."""
        child = self._routes.get(route)
        if child is None:  # routes are the app's own: a fixed set, bound on first use
            child = self._routes[route] = self.request_duration.labels(route)
        child.observe(seconds)
        if method not in METHODS:
            method = OTHER_METHOD
        answered = self._answers.get((route, method, status))
        if answered is None:  # statuses are the hub's own answers: bound on first use too
            answered = self._answers[route, method, status] = self.requests.labels(
                route, method, str(status)
            )
        answered.inc()

    def count_error(self, error: str, route: str = UNPARSED) -> None:
        """An error answer by code and route pattern (``(unparsed)``: refused before routing)."""
        child = self._errors.get((error, route))
        if child is None:  # errors × routes: fixed sets, but most pairs never happen
            code = error if error in ERRORS else "internal"
            child = self._errors[error, route] = self.errors.labels(code, route)
        child.inc()
        rejected = self._rejected.get(error)
        if rejected is not None:
            rejected.inc()

    def count_client(self, client: str, codes: int) -> None:
        requests, sent, _ = self._client(client)
        requests.inc()
        if codes:
            sent.inc(codes)

    def count_client_rejected(self, client: str, reason: str) -> None:
        child = self._client(client)[2].get(reason)
        if child is not None:
            child.inc()

    def _client(self, client: str) -> tuple[Counter, Counter, dict[str, Counter]]:
        bound = self._clients.get(client)
        if bound is None:  # clients are the operator's enrolled set, bound on first use
            bound = self._clients[client] = (
                self.client_requests.labels(client),
                self.client_codes.labels(client),
                {r: self.client_rejected.labels(client, r) for r in CLIENT_REJECTIONS},
            )
        return bound

    def count_redis_error(self, op: str) -> None:
        self._redis_errors[op].inc()

    # ---------------------------------------------------------------- management

    def count_status(self, iss: str, applied: int, ats: Iterable[int], now: float) -> None:
        """An accepted status message: events applied, and the lag of every event in it."""
        self._status_events[self.issuer_label(iss)].inc(applied)
        observe_many(self.status_lag, (max(0.0, now - at) for at in ats))

    # ---------------------------------------------------------------- read at exposition

    def watch_inflight(self, read: Callable[[], int]) -> None:
        self._publisher.watch(self.inflight, read)

    def watch_local_cache(self, read: Callable[[], int]) -> None:
        self._publisher.watch(self.local_entries, read)

    def inflight_requests(self) -> int:
        """Requests in flight in this process now (the published gauge may lag by 1 s)."""
        return int(self._publisher.read(self.inflight))

    def publish(self) -> None:
        """Set this process's gauges from what they watch; called before every exposition."""
        self._publisher.publish()

    def count_trust(self, snapshot: TrustSnapshot, now: float) -> None:
        """Key counts by state, keys near their naf, and how long each issuer can still sign."""
        states = {(iss, s): 0 for iss in snapshot.issuers for s in KEY_STATES}
        expiring = dict.fromkeys(snapshot.issuers, 0)
        until = dict.fromkeys(snapshot.issuers, 0)
        for k in snapshot.keys.values():
            state = "revoked" if k.revoked else "expired" if k.naf < now else "active"
            states[k.iss, state] = states.get((k.iss, state), 0) + 1
            if state == "active":
                until[k.iss] = max(until.get(k.iss, 0), k.naf)
                if k.naf - now <= EXPIRING_WITHIN:
                    expiring[k.iss] = expiring.get(k.iss, 0) + 1
        for (iss, state), n in states.items():
            self.trust_keys.labels(self.issuer_label(iss), state).set(n)
        for iss, n in expiring.items():
            self.keys_expiring.labels(self.issuer_label(iss)).set(n)
        for iss, naf in until.items():
            self.signing_until.labels(self.issuer_label(iss)).set(naf)
        self.trust_version.set(snapshot.version + 1)


def observe_many(histogram: Histogram, values: Iterable[float]) -> None:
    """``observe`` for many values at once: one write per bucket instead of one per value.

    Uses the child's per-bucket values as ``Histogram.observe`` itself does (prometheus-client
    keeps them non-cumulative); tests/test_obs_metrics.py checks the result equals one
    ``observe`` per value, so a library change that breaks this is caught.
    """
    bounds = histogram._upper_bounds  # see the docstring
    counts = [0] * len(bounds)
    total = 0.0
    for value in values:
        counts[bisect.bisect_left(bounds, value)] += 1
        total += value
    if not any(counts):
        return
    histogram._sum.inc(total)
    for bucket, n in zip(histogram._buckets, counts, strict=True):
        if n:
            bucket.inc(n)
