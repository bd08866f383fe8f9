"""Latency histograms: HdrHistogram at microsecond resolution, merged losslessly across processes.

Every histogram of the harness has the same range (1 µs to 100 s, 3 significant digits), so any
two can be added. A value outside the range is never dropped silently: ``record`` counts it in
``out_of_range`` (HdrHistogram's ``record_value`` only answers False). Histograms travel between
processes and into the JSON report as HdrHistogram's own compressed base64 "histoblobs".

The kinds, per interval and per phase (research/loadtest.md §5.2):
- ``latency``: response done − *intended* send time (wrk2's corrected latency; the headline);
- ``service``: response done − actual send time (wrk2's ``-U``, what a closed loop sees);
- ``lateness``: actual send − intended send (the generator's own delay, in-flight waits included);
- ``gen_lag``: lateness of requests that found a connection free, i.e. the generator's delay alone;
- ``loop_lag``: how late a 5 ms heartbeat timer fires in each generator's event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from hdrh.histogram import HdrHistogram

from load_tests.records import Summary

LOWEST_US = 1
HIGHEST_US = 100_000_000  # 100 s
DIGITS = 3
KINDS = ("latency", "service", "lateness", "gen_lag", "loop_lag")
PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99)


class Blob(TypedDict, total=False):
    """A histogram as it travels between processes: the histoblob and the values it lost."""

    blob: str  # "" or absent: no values
    oor: int


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


@dataclass(slots=True)
class Histogram:
    """One HdrHistogram in µs plus the count of values it could not hold."""

    hdr: HdrHistogram = field(default_factory=new_histogram)
    out_of_range: int = 0

    def record_ns(self, ns: int) -> None:
        us = ns // 1000
        if us < LOWEST_US:
            us = LOWEST_US  # below 1 µs: clamp, it is "under the resolution", not lost
        if not self.hdr.record_value(us):
            self.out_of_range += 1

    @property
    def count(self) -> int:
        return int(self.hdr.get_total_count())

    def add(self, other: Histogram) -> None:
        self.hdr.add(other.hdr)
        self.out_of_range += other.out_of_range

    def encode(self) -> Blob:
        blob = self.hdr.encode() if self.count else b""
        return {
            "blob": blob.decode() if isinstance(blob, bytes) else blob,
            "oor": self.out_of_range,
        }

    @classmethod
    def decode(cls, doc: Blob) -> Histogram:
        h = cls(out_of_range=int(doc.get("oor", 0)))
        if doc.get("blob"):
            h.hdr.decode_and_add(doc["blob"])
        return h

    def reset(self) -> None:
        self.hdr.reset()
        self.out_of_range = 0

    def summary(self) -> Summary:
        """count, min, mean, percentiles and max, all in µs (integers; mean rounded)."""
        n, oor = self.count, self.out_of_range
        if n == 0:  # in the order the JSON always had
            return {"count": 0, "out_of_range": oor, "min": None, "mean": None, "max": None,
                    "p50": None, "p90": None, "p99": None, "p99_9": None,
                    "p99_99": None}  # fmt: skip
        at = [int(self.hdr.get_value_at_percentile(p)) for p in PERCENTILES]
        return {"count": n, "out_of_range": oor, "min": int(self.hdr.get_min_value()),
                "mean": round(float(self.hdr.get_mean_value()), 1), "p50": at[0], "p90": at[1],
                "p99": at[2], "p99_9": at[3], "p99_99": at[4],
                "max": int(self.hdr.get_max_value())}  # fmt: skip

    def value_at_rank(self, quantile: float) -> int:
        """The value of nearest rank ``int(quantile × count) + 1``, µs (to the histogram's
        precision), as ``bench.latency.percentiles`` reads a list of latencies. HdrHistogram's
        own percentile rounds the rank to the nearest instead, one rank lower at some counts:
        of 485 latencies its p99 is the 480th, 5.58 ms where the 481st read 6.01. 0 if empty."""
        target = min(self.count, int(quantile * self.count) + 1)
        total = 0
        for item in self.hdr.get_recorded_iterator():
            total += item.count_at_value_iterated_to
            if total >= target:
                return int(item.value_iterated_to)
        return 0

    def count_above_us(self, threshold_us: int) -> int:
        """How many values exceed ``threshold_us`` (to within the histogram's precision)."""
        above = 0
        for item in self.hdr.get_recorded_iterator():
            if item.value_iterated_to > threshold_us:
                above += item.count_at_value_iterated_to
        return above

    def spectrum(self) -> list[tuple[float, int]]:
        """(percentile, value µs) pairs, HdrHistogram's percentile iterator, for the plot."""
        out = []
        for item in self.hdr.get_percentile_iterator(5):
            out.append((float(item.percentile_level_iterated_to), int(item.value_iterated_to)))
        return out


@dataclass(slots=True)
class HistogramSet:
    """One Histogram per kind."""

    by_kind: dict[str, Histogram] = field(default_factory=lambda: {k: Histogram() for k in KINDS})

    def __getitem__(self, kind: str) -> Histogram:
        return self.by_kind[kind]

    def add(self, other: HistogramSet) -> None:
        for kind, h in other.by_kind.items():
            self.by_kind[kind].add(h)

    def encode(self) -> dict[str, Blob]:
        return {k: h.encode() for k, h in self.by_kind.items()}

    @classmethod
    def decode(cls, doc: Mapping[str, Blob]) -> HistogramSet:
        out = cls()
        for kind, blob in doc.items():
            out.by_kind[kind] = Histogram.decode(blob)
        return out

    def reset(self) -> None:
        for h in self.by_kind.values():
            h.reset()


def merged(sets: Iterable[HistogramSet]) -> HistogramSet:
    total = HistogramSet()
    for s in sets:
        total.add(s)
    return total
