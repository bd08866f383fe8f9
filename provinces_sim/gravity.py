"""Where travellers go: a gravity model over the census populations.

Trips from province i to j are proportional to ``pop_i × pop_j`` for i ≠ j: the gravity model
with every distance equal (SPEC §1 gives populations, not distances, and inventing distances
would only add noise). There are no trips within a province: those never cross the hub. So
for a given origin, destinations are chosen in proportion to their populations.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping


class Gravity:
    def __init__(self, populations: Mapping[str, float]) -> None:
        if len(populations) < 2:
            raise ValueError("a gravity model needs at least two provinces")
        self._populations = dict(populations)
        self._pairs = [(i, j) for i in populations for j in populations if i != j]
        weights = [populations[i] * populations[j] for i, j in self._pairs]
        self._total = sum(weights)
        self._cumulative = list(itertools.accumulate(weights))

    def share(self, origin: str, destination: str) -> float:
        """The probability that a trip goes from ``origin`` to ``destination``."""
        if origin == destination:
            return 0.0
        return self._populations[origin] * self._populations[destination] / self._total

    def trips(self, rng: random.Random, n: int) -> list[tuple[str, str]]:
        """``n`` independent (origin, destination) pairs."""
        return rng.choices(self._pairs, cum_weights=self._cumulative, k=n)
