"""The gateway's own counters (SPEC §7 ``/metrics``), scraped before and after a run.

The harness reports what it sent; the hub reports what it saw. Their difference over a run is
the server-side half of the report: verifications by outcome, cache lookups by layer and
outcome (the *observed* hit ratio), requests refused. Only counters are used, so a scrape is
a sum over all worker processes whatever their number.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from load_tests.records import Delta

Sample = tuple[str, tuple[tuple[str, str], ...]]
_COUNTERS = (
    "hcgw_verifications_total",
    "hcgw_cache_total",
    "hcgw_rejected_total",
    "hcgw_request_duration_seconds_count",
)


def parse(text: str) -> dict[Sample, float]:
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in _COUNTERS:
                out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def scrape(url: str, timeout: float = 5.0) -> dict[Sample, float] | None:
    """The counters at ``url``, or None when there is no hub metrics endpoint there."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http only
            return parse(answer.read().decode())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def delta(before: dict[Sample, float], after: dict[Sample, float]) -> Delta:
    """What happened between two scrapes, grouped for the report."""

    def by(name: str, *labels: str) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (n, lbl), value in after.items():
            if n != name:
                continue
            d = dict(lbl)
            key = "/".join(d.get(x, "") for x in labels)
            out[key] += round(value - before.get((n, lbl), 0.0))
        return {k: v for k, v in sorted(out.items()) if v}

    cache = by("hcgw_cache_total", "layer", "outcome")
    lookups = cache.get("local/hit", 0) + cache.get("local/miss", 0)
    hits = cache.get("local/hit", 0) + cache.get("redis/hit", 0)
    verifications = by("hcgw_verifications_total", "outcome")
    return {
        "verifications": sum(verifications.values()),
        "outcomes": verifications,
        "cache": cache,
        "cache_lookups": lookups,
        "cache_hits": hits,
        "hit_ratio": hits / lookups if lookups else None,
        "rejected": by("hcgw_rejected_total", "reason"),
        "requests_by_route": by("hcgw_request_duration_seconds_count", "route"),
    }
