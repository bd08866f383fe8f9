"""Which code each request carries: the repeat model that sets the cache-hit ratio.

Real scanning repeats itself: a commuter's code is scanned at the station, the office and the
canteen. The model draws each code from a *population* of ``P`` distinct corpus codes by a
bounded Zipf law over their ranks (weight of rank ``k`` ∝ ``1 / k**s``; ``s = 0`` is uniform,
larger ``s`` concentrates on a few codes), with a seeded RNG, or (``fresh``) sends every code
once in turn, the cache-miss traffic (an open-loop plan that needs more codes than the
population holds is refused, never wrapped). A chosen share of the population is invalid codes.

The whole draw sequence is computed before the run, so drawing costs nothing in the hot loop,
and the *expected* hit ratio is exact for the draws actually sent: a draw is an expected hit
when the same code was drawn before and the hub can cache it (``Expectation.cacheable``).
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from load_tests.corpus import CorpusCode


@dataclass(frozen=True, slots=True)
class RepeatModel:
    zipf_s: float = 1.0
    population: int | None = None  # None: every eligible corpus code
    fresh: bool = False  # every draw a code not drawn before (until the population wraps)
    invalid_share: float | None = None  # None: as the corpus has it
    skip: int = 0  # corpus codes before this index are not used (disjoint runs)
    seed: int = 1

    def __post_init__(self) -> None:
        if self.zipf_s < 0:
            raise ValueError("zipf s must be >= 0")
        if self.invalid_share is not None and not 0 <= self.invalid_share <= 1:
            raise ValueError("invalid share must be within 0..1")
        if self.population is not None and self.population < 1:
            raise ValueError("population must be >= 1")


def choose_population(codes: Sequence[CorpusCode], model: RepeatModel) -> list[int]:
    """Corpus indices of the population, in rank order (rank 0 is the most drawn)."""
    eligible = range(model.skip, len(codes))
    size = model.population if model.population is not None else len(eligible)
    if model.invalid_share is None:
        chosen = list(eligible[:size])
    else:
        n_invalid = round(size * model.invalid_share)
        invalid = [i for i in eligible if not codes[i].expect.valid][:n_invalid]
        valid = [i for i in eligible if codes[i].expect.valid][: size - n_invalid]
        if len(invalid) < n_invalid or len(valid) < size - n_invalid:
            raise ValueError(
                f"the corpus (after skipping {model.skip}) has {len(valid)} valid and "
                f"{len(invalid)} invalid codes; the population needs {size - n_invalid} and "
                f"{n_invalid}"
            )
        chosen = valid + invalid
    if len(chosen) < size:
        raise ValueError(
            f"population {size} is larger than the {len(chosen)} corpus codes after "
            f"skipping {model.skip}"
        )
    random.Random(model.seed).shuffle(chosen)  # ranks mix valid and invalid codes
    return chosen


def check_fresh_supply(codes: Sequence[CorpusCode], model: RepeatModel, needed: int) -> None:
    """Fresh traffic must not wrap: ``needed`` new codes, or a ValueError that says so."""
    if not model.fresh:
        return
    have = len(choose_population(codes, model))
    if needed > have:
        raise ValueError(
            f"--fresh needs {needed:,} codes but the population holds {have:,} (the corpus has "
            f"{len(codes):,}, --skip {model.skip:,}): lower --rate or --duration, lower --skip, "
            "or make a larger corpus (python -m provinces_sim corpus --codes N)"
        )


def draw_sequence(codes: Sequence[CorpusCode], model: RepeatModel, length: int) -> array[int]:
    """``length`` corpus indices, the code of every draw in order."""
    population = choose_population(codes, model)
    if model.fresh:
        out = array("I", population * (length // len(population) + 1))
        del out[length:]
        return out
    rng = random.Random(model.seed + 1)
    cum, total = [], 0.0
    for rank in range(1, len(population) + 1):
        total += rank**-model.zipf_s
        cum.append(total)
    ranks = rng.choices(range(len(population)), cum_weights=cum, k=length)
    return array("I", (population[r] for r in ranks))


def expected_hits(
    draws: Iterable[int], codes: Sequence[CorpusCode], seen: set[int] | None = None
) -> tuple[int, int]:
    """(expected hits, draws) over ``draws`` in the order the hub sees them. ``seen`` holds
    the codes drawn before these (it is updated), e.g. those of the warm-up."""
    seen = set() if seen is None else seen
    hits = n = 0
    for d in draws:
        n += 1
        if d in seen:
            hits += codes[d].expect.cacheable
        else:
            seen.add(d)
    return hits, n


def repeat_share(draws: Sequence[int]) -> float:
    """Share of draws that repeat an earlier draw (any code, cacheable or not)."""
    return 1 - len(set(draws)) / len(draws) if draws else 0.0
