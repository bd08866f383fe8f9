"""The numbers behind the dashboard, read from the same metrics Prometheus scrapes (pure).

Every figure comes from the families /metrics renders (totalled over all workers), so the page
and a Prometheus graph cannot disagree. Rates need two readings: each operator app keeps a short
history of readings (:class:`History`), one per poll, and a rate is the difference between now
and the reading ``window`` seconds ago (5 s by default) divided by the time between them. A
worker's first poll has no rate yet (``null``). Latency percentiles are estimated from histogram
buckets the way PromQL's ``histogram_quantile`` does: linear within the bucket.

A tile's red share "spikes" (:func:`red_spike`) when, over the window, at least 5 of at least 10
codes were red and its red share is over twice its share before the window plus 2 points (or,
with too little history, twice the hub-wide share over the window).

Error answers are counted by error code (``hcgw_errors_total{error}``); each code has one HTTP
status in the error tree of ``gateway.errors``, so the page groups them as 401, 403, 429, other
4xx and 5xx without a label of its own. Every function here takes its clock readings as
arguments: nothing here reads a clock, awaits or touches Redis.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Metric

from gateway.core.model import Reason
from gateway.errors import HcgwError
from gateway.metrics.catalogue import COLOURS, KEY_STATES, LAYERS, REJECTIONS
from gateway.operator.tiles import TILES

DEFAULT_WINDOW, MAX_WINDOW = 5.0, 60.0
KEEP = 65.0  # seconds of readings kept (the spike baseline looks this far back)
MIN_APART = 0.2  # a reading closer than this to the last one is used but not kept
VERIFY_ROUTES = ("/v1/verify", "/v1/verify/batch")
REASONS = tuple(r.value.lower() for r in Reason)
SPIKE_MIN_CODES, SPIKE_MIN_RED = 10, 5
STATUS_CLASSES = ("401", "403", "429", "other_4xx", "5xx")  # the error panel's lines


def status_class(status: int) -> str:
    """Which line of the error panel an answer with this HTTP status is drawn on."""
    if status >= 500:
        return "5xx"
    return str(status) if str(status) in STATUS_CLASSES else "other_4xx"


def _error_statuses() -> dict[str, int]:
    """Each ``error`` of the tree with the status of the class that names it (``Conflict`` and
    the other grouping classes name none of their own)."""
    statuses: dict[str, int] = {}
    todo: list[type[HcgwError]] = [HcgwError]
    while todo:
        cls = todo.pop()
        if "error" in vars(cls):
            statuses[cls.error] = cls.status
        todo.extend(cls.__subclasses__())
    return statuses


ERROR_CLASS = {error: status_class(status) for error, status in _error_statuses().items()}


class Reading:
    """Every sample of one exposition, summed over every subset of its labels, so any sum the
    page needs is one dictionary lookup (the history keeps a minute of these)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._sums: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self._les: dict[str, set[str]] = {}
        for family in families:
            for s in family.samples:
                if s.name.endswith(("_created", "_sum")) or (
                    s.name == "hcgw_request_duration_seconds_bucket"
                    and s.labels["route"] not in VERIFY_ROUTES
                ):
                    continue  # not shown: spare the event loop
                items = tuple(s.labels.items())
                if "le" in s.labels:
                    self._les.setdefault(s.name, set()).add(s.labels["le"])
                for size in range(len(items) + 1):
                    for subset in itertools.combinations(items, size):
                        key = (s.name, frozenset(subset))
                        self._sums[key] = self._sums.get(key, 0.0) + float(s.value)

    def sum(self, name: str, **match: str) -> float:
        return self._sums.get((name, frozenset(match.items())), 0.0)

    def get(self, name: str, **match: str) -> float | None:
        return self._sums.get((name, frozenset(match.items())))

    def buckets(self, name: str, **match: str) -> dict[float, float]:
        return {float(le): self.sum(name, le=le, **match) for le in self._les.get(name, ())}


@dataclass(slots=True)
class History:
    readings: deque[tuple[float, Reading]] = field(default_factory=deque)

    def add(self, now: float, reading: Reading) -> None:
        while self.readings and now - self.readings[0][0] > KEEP:
            self.readings.popleft()
        if not self.readings or now - self.readings[-1][0] >= MIN_APART:
            self.readings.append((now, reading))

    def before(self, now: float, window: float) -> tuple[float, Reading] | None:
        """The newest reading at least ``window`` old, else the oldest at least 0.5 s old."""
        older = [(t, r) for t, r in self.readings if now - t >= 0.5]
        if not older:
            return None
        fitting = [(t, r) for t, r in older if now - t >= window]
        return fitting[-1] if fitting else older[0]

    def oldest(self) -> tuple[float, Reading] | None:
        return self.readings[0] if self.readings else None


class Window:
    """Sums over a reading, and the same sums as a rate against an earlier one."""

    def __init__(self, now: Reading, then: Reading | None, seconds: float | None) -> None:
        self.now, self.then, self.seconds = now, then, seconds

    def total(self, name: str, **match: str) -> float:
        return self.now.sum(name, **match)

    def delta(self, name: str, **match: str) -> float | None:
        if self.then is None:
            return None
        return max(0.0, self.now.sum(name, **match) - self.then.sum(name, **match))

    def rate(self, name: str, **match: str) -> float | None:
        d = self.delta(name, **match)
        return None if d is None or not self.seconds else d / self.seconds

    def gauge(self, name: str, **match: str) -> float | None:
        return self.now.get(name, **match)


def quantile(q: float, cumulative: Mapping[float, float]) -> float | None:
    """``histogram_quantile``: linear interpolation inside the bucket holding rank q·n."""
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] <= 0:
        return None
    rank = q * cumulative[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # past the last finite bucket: its bound is all we know
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def percentiles(
    view: Window, name: str, match: Mapping[str, str], qs: Iterable[float] = (0.5, 0.9, 0.99)
) -> dict[str, float | None]:
    """Percentiles over the window (over all time on a worker's first poll), and the count."""
    now = view.now.buckets(name, **match)
    if view.then is not None:
        then = view.then.buckets(name, **match)
        now = {le: v - then.get(le, 0.0) for le, v in now.items()}
    out: dict[str, float | None] = {f"p{round(q * 100)}": quantile(q, now) for q in qs}
    out["count"] = now.get(math.inf, 0.0)
    return out


def ratio(hits: float | None, misses: float | None) -> float | None:
    if hits is None or misses is None or hits + misses <= 0:
        return None
    return hits / (hits + misses)


def red_spike(red: float | None, codes: float | None, baseline: float | None) -> bool:
    """A tile's rule: ``red`` of ``codes`` over the window is enough codes, enough red, and a
    share over twice ``baseline`` (its share before the window, else the hub's) plus 2 points."""
    if red is None or not codes or codes < SPIKE_MIN_CODES or red < SPIKE_MIN_RED:
        return False
    return red / codes >= 2 * (baseline or 0.0) + 0.02


def build(
    reading: Reading,
    history: History,
    *,
    window: float,
    mono_now: float,
    wall_now: float,
    issuers: Iterable[str],
    events: list[dict[str, Any]],
    pid: int,
) -> dict[str, Any]:
    """The JSON of ``GET /dashboard/data`` (schema: ``gateway.web.dashboard_schema``): ``reading``
    is now (``mono_now`` on a monotonic clock), compared with the one of ``history`` at least
    ``window`` seconds old; ``reading`` joins the history."""
    earlier = history.before(mono_now, window)
    history.add(mono_now, reading)
    seconds = mono_now - earlier[0] if earlier else None
    v = Window(reading, earlier[1] if earlier else None, seconds)
    verif = "hcgw_verifications_total"

    def counted(name: str, **match: str) -> dict[str, float | None]:
        return {"total": v.total(name, **match), "rate": v.rate(name, **match)}

    hub_red = ratio(v.delta(verif, outcome="red"), _other(v, verif, "red"))
    duration = "hcgw_request_duration_seconds"
    return {
        "at": wall_now,
        "pid": pid,
        "window": seconds,
        "verifications": {
            **counted(verif),
            "by_colour": {c: counted(verif, outcome=c) for c in COLOURS},
            "by_reason": {r: counted(verif, outcome=r) for r in REASONS},
            "red_share": hub_red,
        },
        "issuers": _tiles(v, history.oldest(), earlier, hub_red, frozenset(issuers)),
        "cache": _cache(v),
        "latency": {
            route: percentiles(v, duration + "_bucket", {"route": route}) for route in VERIFY_ROUTES
        },
        "requests": {
            **counted(duration + "_count"),
            "inflight": v.gauge("hcgw_inflight_requests"),
            "rejected": {
                reason: counted("hcgw_rejected_total", reason=reason) for reason in REJECTIONS
            },
            "errors": _errors_by_status(v),
            "server_errors_rate": _server_errors(v),
        },
        "redis": {
            "up": v.gauge("hcgw_redis_up") == 1.0,
            "ping_seconds": v.gauge("hcgw_redis_ping_seconds"),
            "keys": v.gauge("hcgw_redis_keys"),
            "errors": v.total("hcgw_redis_errors_total"),
            "lookup": percentiles(v, "hcgw_redis_lookup_seconds_bucket", {}),
        },
        "trust": {
            "version": v.gauge("hcgw_trust_list_version"),
            "issued_at": v.gauge("hcgw_trust_list_issued_timestamp_seconds"),
            "expires_at": v.gauge("hcgw_trust_list_expiry_timestamp_seconds"),
            "keys": {s: v.gauge("hcgw_trust_keys", state=s) or 0.0 for s in KEY_STATES},
            "expiring": v.gauge("hcgw_trust_keys_expiring") or 0.0,
        },
        "status": {
            **counted("hcgw_status_events_total"),
            "lag": percentiles(v, "hcgw_status_event_lag_seconds_bucket", {}),
        },
        "events": events,
    }


def _tiles(
    v: Window,
    base: tuple[float, Reading] | None,
    earlier: tuple[float, Reading] | None,
    hub_red: float | None,
    enrolled: frozenset[str],
) -> list[dict[str, Any]]:
    verif = "hcgw_verifications_total"
    tiles = []
    for tile in TILES:
        iss = tile.iss
        red_w, all_w = v.delta(verif, iss=iss, outcome="red"), v.delta(verif, iss=iss)
        baseline = hub_red
        if base is not None and earlier is not None and base[0] < earlier[0]:
            then, first = earlier[1], base[1]
            red_b = then.sum(verif, iss=iss, outcome="red") - first.sum(
                verif, iss=iss, outcome="red"
            )
            all_b = then.sum(verif, iss=iss) - first.sum(verif, iss=iss)
            if all_b >= SPIKE_MIN_CODES:
                baseline = red_b / all_b
        tiles.append(
            {
                "iss": iss,
                "zh": tile.zh,
                "en": tile.en,
                "x": tile.x,
                "y": tile.y,
                "enrolled": iss in enrolled,
                "total": v.total(verif, iss=iss),
                "rate": v.rate(verif, iss=iss),
                "red_rate": v.rate(verif, iss=iss, outcome="red"),
                "red_share": red_w / all_w if red_w is not None and all_w else None,
                "red_share_baseline": baseline,
                "red_spike": red_spike(red_w, all_w, baseline),
            }
        )
    return tiles


def _cache(v: Window) -> dict[str, Any]:
    cache: dict[str, Any] = {}
    for layer in LAYERS:
        hits, misses = (
            v.total("hcgw_cache_total", layer=layer, outcome=o) for o in ("hit", "miss")
        )
        cache[layer] = {
            "hits": hits,
            "misses": misses,
            "hit_ratio": ratio(hits, misses),
            "window_hit_ratio": ratio(
                v.delta("hcgw_cache_total", layer=layer, outcome="hit"),
                v.delta("hcgw_cache_total", layer=layer, outcome="miss"),
            ),
        }
    cache["local_entries"] = v.gauge("hcgw_local_cache_entries")
    return cache


def _errors_by_status(v: Window) -> dict[str, dict[str, float | None]]:
    """Error answers by the panel's status classes, summed over the error codes of each."""
    out: dict[str, dict[str, float | None]] = {}
    for line in STATUS_CLASSES:
        codes = [e for e, c in ERROR_CLASS.items() if c == line]
        rates = [v.rate("hcgw_errors_total", error=e) for e in codes]
        out[line] = {
            "total": sum(v.total("hcgw_errors_total", error=e) for e in codes),
            "rate": None if any(r is None for r in rates) else sum(r or 0.0 for r in rates),
        }
    return out


def _other(v: Window, name: str, outcome: str) -> float | None:
    everything, this = v.delta(name), v.delta(name, outcome=outcome)
    return None if everything is None or this is None else everything - this


def _server_errors(v: Window) -> float | None:
    rates = [
        v.rate("hcgw_errors_total", error=e) for e in ("internal", "unavailable", "overloaded")
    ]
    return None if any(r is None for r in rates) else sum(r for r in rates if r is not None)
