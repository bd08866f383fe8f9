"""Did the run measure the workload it was asked for? Checks of the answers and the cache.

The generator's self-check (``verdict``) asks whether the figures are the server's and not the
generator's; these ask whether they are figures of the *intended* traffic:

- most answers errors (a 401 from a hub configured for another world, a 404 from the wrong
  port): the latency table would describe the errors, so the run is ``INVALID``;
- most checked verdicts differ from the corpus' expectations (a hub not primed): ``INVALID``;
- the hub's observed cache hit ratio departs from the one the draws imply by more than a
  stated tolerance: the hub had seen the codes (observed above) or cannot cache them (below),
  so "cache-miss traffic" was not: ``INVALID``, with what to do;
- ``--fresh`` traffic that reused codes (a closed loop that outran its population).

Each returns a :class:`Check`; fewer than half the answers wrong is only a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from load_tests.units import count, pct


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    severity: str  # invalid | saturated | sut | warning
    detail: str


def listing(counts: Mapping[str, int]) -> str:
    """``{"401 unauthenticated": 800}`` → ``401 unauthenticated 800`` (never a dict repr)."""
    return ", ".join(f"{k} {count(v)}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def error_answers(failed: int, attempts: int, failures: Mapping[str, int]) -> Check:
    most = attempts > 0 and failed * 2 > attempts
    detail = f"{count(failed)} of {count(attempts)} answers were errors"
    if failed:
        detail += f" ({listing(failures)})"
    if most:
        detail += ": the figures describe the errors, not the hub's verifications"
    return Check("error_answers", failed == 0, "invalid" if most else "warning", detail)


def wrong_verdicts(wrong: int, checked: int) -> Check:
    most = checked > 0 and wrong * 2 > checked
    detail = f"{count(wrong)} of {count(checked)} checked verdicts differ from the corpus'"
    if most:
        detail += " expectation: the hub is not in the corpus' state (prime it)"
    else:
        detail += " expectation"
    return Check("answers", wrong == 0, "invalid" if most else "warning", detail)


def hit_ratio(
    expected: float | None, observed: float | None, tolerance: float, *, counters: bool
) -> Check:
    """``counters``: the hub's /metrics answered, so ``observed`` None means no lookups."""
    if not counters:
        return Check("cache_hit_ratio", False, "warning",
                     "not checked: the hub's counters (/metrics) were not available")  # fmt: skip
    if expected is None or observed is None:
        return Check("cache_hit_ratio", True, "invalid", "no cache lookups to compare")
    gap = observed - expected
    said = (
        f"observed {pct(observed)} against {pct(expected)} expected "
        f"(tolerance ±{tolerance * 100:g} points)"
    )
    if gap > tolerance:
        said += (
            ": the hub has already seen these codes: use --skip N to move past the codes "
            "earlier runs sent, or a fresh hub (--spawn-hub)"
        )
    elif -gap > tolerance:
        said += (
            ": the hub caches less than these draws imply (a local cache too small, "
            "or several hubs without a shared Redis?)"
        )
    return Check("cache_hit_ratio", abs(gap) <= tolerance, "invalid", said)


def fresh_reuse(codes: int, distinct: int) -> Check:
    reused = codes - distinct
    return Check(
        "fresh_traffic",
        reused <= 0,
        "invalid",
        f"--fresh sent {count(codes)} codes of which {count(max(0, reused))} repeated earlier "
        "ones: the population ran out (a larger corpus, or a shorter run)",
    )
