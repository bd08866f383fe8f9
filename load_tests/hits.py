"""The cache hit ratio of a run: expected from the draws actually sent, observed by the hub.

Expected: a draw is a hit when the same code was drawn before in this run (or sent by the
preflight) and the hub can cache it (``Expectation.cacheable``), on a hub that had not seen
the codes. Observed: ``(local hits + Redis hits) / local lookups`` from the hub's
``hcgw_cache_total`` between two scrapes. The two are compared over the measured phase when
the warm-up was scraped apart, else over the whole run (``compared``).
"""

from __future__ import annotations

import collections

from load_tests.corpus import load_corpus
from load_tests.records import ExpectedHits, ObservedHits, ServerRecord
from load_tests.runner import RunData
from load_tests.workload import expected_hits


def sent_draws(data: RunData) -> dict[str, list[int]]:
    """The corpus index of every code sent, by phase, in global slot order."""
    cfg = data.config
    k, per, n = cfg.procs, cfg.target.codes_per_request, len(data.draws)
    slots: dict[str, list[int]] = {"warmup": [], "measured": []}
    for j, r in enumerate(data.results):
        by = r.get("sent_by_phase", {})
        w, m = by.get("warmup", 0), by.get("measured", 0)
        mine = [j + k * x for x in range(w + m)]
        slots["warmup"] += mine[:w]
        slots["measured"] += mine[w:]
    return {
        phase: [data.draws[(s * per + t) % n] for s in sorted(ss) for t in range(per)]
        for phase, ss in slots.items()
    }


def expected(data: RunData) -> ExpectedHits:
    codes = load_corpus(data.config.corpus, limit=data.config.corpus_limit).codes
    draws = sent_draws(data)
    seen: set[int] = set(data.preseen)
    w_hits, w_n = expected_hits(draws["warmup"], codes, seen)
    m_hits, m_n = expected_hits(draws["measured"], codes, seen)
    outcomes = collections.Counter(codes[d].expect.outcome for d in draws["warmup"])
    outcomes.update(codes[d].expect.outcome for d in draws["measured"])
    return {
        "warmup": w_hits / w_n if w_n else None,
        "measured": m_hits / m_n if m_n else None,
        "run": (w_hits + m_hits) / (w_n + m_n) if w_n + m_n else None,
        "codes": w_n + m_n,
        "distinct_codes": len(set(draws["warmup"]) | set(draws["measured"])),
        "wrapped": (w_n + m_n) > len(data.draws),
        "outcomes": dict(sorted(outcomes.items())),
    }


def observed(server: ServerRecord | None) -> ObservedHits | None:
    if server is None:
        return None
    return {
        "run": server["run"]["hit_ratio"],
        "measured": server["measured"]["hit_ratio"] if "measured" in server else None,
    }


def compared(
    exp: ExpectedHits, obs: ObservedHits | None, warmup_s: int
) -> tuple[float | None, float | None]:
    """(expected, observed) over the same phase: the measured one when both have it."""
    if obs is None:
        return exp["measured"], None
    if warmup_s and obs["measured"] is not None:
        return exp["measured"], obs["measured"]
    return exp["run"], obs["run"]
