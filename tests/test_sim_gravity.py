"""Where travellers go: trips between provinces in proportion to the product of their census
populations (the gravity model with equal distances), never within one province."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from provinces_sim.census import PROVINCES, residents_for
from provinces_sim.gravity import Gravity

POPULATIONS = {p.iss: p.population_m for p in PROVINCES}


@pytest.fixture(scope="module")
def gravity() -> Gravity:
    return Gravity(POPULATIONS)


def test_destinations_are_shared_in_proportion_to_their_populations(gravity: Gravity) -> None:
    for origin in ("440000", "540000"):
        for a, b in (("370000", "460000"), ("110000", "660000")):
            ratio = gravity.share(origin, a) / gravity.share(origin, b)
            assert ratio == pytest.approx(POPULATIONS[a] / POPULATIONS[b])


def test_origins_are_weighted_by_population_too(gravity: Gravity) -> None:
    # share(i → j) / share(j → i) = 1: flows balance, and each is pop_i × pop_j
    assert gravity.share("440000", "540000") == pytest.approx(gravity.share("540000", "440000"))
    total = sum(POPULATIONS.values())
    out_of = {i: sum(gravity.share(i, j) for j in POPULATIONS) for i in POPULATIONS}
    expected = {i: p * (total - p) for i, p in POPULATIONS.items()}
    norm = sum(expected.values())
    for i in POPULATIONS:
        assert out_of[i] == pytest.approx(expected[i] / norm)


def test_there_are_no_trips_within_a_province_and_the_shares_sum_to_one(
    gravity: Gravity,
) -> None:
    assert all(gravity.share(i, i) == 0 for i in POPULATIONS)
    total = sum(gravity.share(i, j) for i in POPULATIONS for j in POPULATIONS)
    assert total == pytest.approx(1.0)


def test_sampled_trips_follow_the_shares(gravity: Gravity) -> None:
    n = 200_000
    trips = gravity.trips(random.Random(2020), n)
    assert all(o != d for o, d in trips)
    origins = Counter(o for o, _ in trips)
    into_guangdong = Counter(o for o, d in trips if d == "440000")
    for origin in ("440000", "370000", "420000", "540000"):
        share = sum(gravity.share(origin, d) for d in POPULATIONS)
        assert origins[origin] / n == pytest.approx(share, rel=0.05)
    # among trips into Guangdong, Shandong's travellers outnumber Tibet's as 101.5 to 3.6
    ratio = into_guangdong["370000"] / into_guangdong["540000"]
    assert ratio == pytest.approx(101.5 / 3.6, rel=0.25)


def test_the_same_seed_gives_the_same_trips(gravity: Gravity) -> None:
    assert gravity.trips(random.Random(7), 50) == gravity.trips(random.Random(7), 50)


def test_residents_are_scaled_from_the_census_with_a_floor() -> None:
    by_iss = {p.iss: p for p in PROVINCES}
    assert residents_for(by_iss["440000"], 1e-5) == 1260
    assert residents_for(by_iss["660000"], 1e-5) == 33
    assert residents_for(by_iss["540000"], 1e-7) == 3  # never fewer than three
    assert sum(residents_for(p, 1e-5) for p in PROVINCES) == 14_131
