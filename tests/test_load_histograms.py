"""Histograms: µs resolution, nothing dropped silently, lossless merging across processes."""

from __future__ import annotations

import random

from load_tests.histograms import HIGHEST_US, Histogram, HistogramSet, merged


def test_values_are_recorded_in_microseconds_with_three_significant_digits() -> None:
    h = Histogram()
    for us in (150, 1_234, 98_765):
        h.record_ns(us * 1000 + 999)  # sub-µs remainders are cut, not rounded up
    s = h.summary()
    assert s["count"] == 3 and s["min"] == 150
    assert s["max"] is not None and abs(s["max"] - 98_765) <= 98_765 * 0.001


def test_a_value_beyond_the_range_is_counted_not_dropped() -> None:
    h = Histogram()
    h.record_ns((HIGHEST_US * 2) * 1000)
    h.record_ns(500_000)
    assert h.count == 1 and h.out_of_range == 1
    assert h.summary()["out_of_range"] == 1


def test_sub_microsecond_values_count_as_one_microsecond() -> None:
    h = Histogram()
    h.record_ns(10)
    assert h.count == 1 and h.summary()["min"] == 1


def test_merged_histoblobs_equal_one_histogram_of_all_values() -> None:
    rng = random.Random(5)
    values = [int(rng.lognormvariate(7, 1.2)) * 1000 for _ in range(30_000)]
    whole = Histogram()
    parts = [HistogramSet() for _ in range(3)]
    for n, v in enumerate(values):
        whole.record_ns(v)
        parts[n % 3]["latency"].record_ns(v)
    # Through the wire format, as generator processes ship them.
    shipped = [HistogramSet.decode(p.encode()) for p in parts]
    total = merged(shipped)["latency"]
    assert total.summary() == whole.summary()
    assert total.spectrum() == whole.spectrum()


def test_an_empty_histogram_round_trips_and_summarises_as_nothing() -> None:
    h = Histogram.decode(Histogram().encode())
    assert h.count == 0 and h.summary()["p99"] is None


def test_count_above_a_threshold() -> None:
    h = Histogram()
    for us in range(1, 1001):
        h.record_ns(us * 1000)
    assert abs(h.count_above_us(500) - 500) <= 2


def test_the_value_at_a_rank_is_the_nearest_rank_a_list_of_the_same_latencies_gives() -> None:
    """``bench.latency.percentiles`` reads a list by nearest rank, ``int(q × n) + 1``; a pooled
    percentile must read the histogram the same way, or it would sit one rank off its rounds'
    own values (HdrHistogram rounds the rank: of 485 latencies its p99 is the 480th)."""
    from load_tests.bench.latency import percentiles

    rng = random.Random(7)
    for n in (1, 2, 99, 485, 491, 1000, 4321):
        seconds = [rng.uniform(0.0005, 0.05) for _ in range(n)]
        h = Histogram()
        for t in seconds:
            h.record_ns(round(t * 1e9))
        exact = percentiles(seconds, ("p50", "p90", "p99", "p99_9"))
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)):
            want = exact[name]
            assert want is not None
            assert abs(h.value_at_rank(q) - want) <= want * 1e-3 + 1, (n, name)
    assert Histogram().value_at_rank(0.99) == 0
