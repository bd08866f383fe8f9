"""The latency figures of issue 11 over the rounds, and what their measurements share.

A latency measurement of issue 11 (``stall``, ``acks``) keeps a gateway busy with wrk (a C
process: ``hub.max_rate``) while a thread of this process sends its own requests on one
connection and times each (``Beside``): wrk's run blocks the main thread in ``subprocess``,
which holds no GIL, so the thread has the interpreter to itself. Its figures are latencies
over the rounds, each round's value between two limit slots like every measurement
(``over_rounds``: the same reading as the open-loop points'): ``StallFigure`` and
``AckFigure``, with their JSON; each percentile of all the rounds' latencies together
(``pooled``). The measuring modules import the gateway's core and Redis
client (``stall``, ``acks``); this one, which the page is written from, imports neither.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from load_tests.bench.document import AckFigureRecord, StallFigureRecord
from load_tests.bench.limits import Limits, disturbed
from load_tests.bench.ratios import Bounds, Pooled, Ratio, ratio_json
from load_tests.bench.samples import AckSample, StallSample
from load_tests.histograms import Histogram

T = TypeVar("T")

QUANTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p99_9": 0.999}


def percentiles(seconds: Sequence[float], names: Iterable[str]) -> dict[str, int | None]:
    """``{"p50": µs, …, "max": µs}`` of ``seconds`` (nearest rank), None for every name when
    there are none."""
    ordered = sorted(seconds)
    out: dict[str, int | None] = {}
    for name in names:
        if not ordered:
            out[name] = None
        elif name == "max":
            out[name] = round(ordered[-1] * 1e6)
        else:
            out[name] = round(ordered[min(len(ordered) - 1, int(QUANTILES[name] * len(ordered)))]
                              * 1e6)  # fmt: skip
    return out


def histoblob(seconds: Iterable[float]) -> str:
    """``seconds`` as a histoblob (load_tests.histograms: µs, 3 digits), "" for none."""
    h = Histogram()
    for t in seconds:
        h.record_ns(round(t * 1e9))
    return h.encode().get("blob", "")


def median_known(values: Iterable[float | None]) -> float | None:
    """The median of the values that are known (not None), or None."""
    known = [float(v) for v in values if v is not None]
    return statistics.median(known) if known else None


class Beside(Generic[T]):
    """``fn()`` in a thread of its own: ``start`` it (``hub.max_rate``'s ``during``, just
    before wrk), then ``result()`` once wrk is done (re-raising what the thread raised)."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._out: list[T] = []
        self._failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="bench-beside", daemon=True)

    def _run(self) -> None:
        try:
            self._out.append(self._fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by result()
            self._failed.append(exc)

    def start(self) -> None:
        self._thread.start()

    def result(self, timeout: float = 60.0) -> T:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("a latency probe did not finish with wrk")
        if self._failed:
            raise self._failed[0]
        return self._out[0]


class Timed(Protocol):
    """A measurement of a round: where it lies between the limit slots, who else was busy."""

    @property
    def block(self) -> int: ...

    @property
    def mid(self) -> float: ...

    @property
    def busy_before(self) -> float: ...

    @property
    def others_during(self) -> float: ...


def over_rounds(samples: Sequence[Timed], values: Sequence[float], limits: Limits) -> Ratio:
    """``values`` (one a round, of ``samples``) as a figure over the rounds: its median and
    range from the rounds others did not disturb, marked when they spread or the limits moved
    around one (``Ratio``: here of latencies, not ratios). A sample of ``block`` -1 lies
    between no limit slots (a version-3 open-loop point): no drift, no bracket to disturb."""
    drifts = tuple(limits.drift_at(s.mid) if s.block >= 0 else 0.0 for s in samples)
    flags = tuple(disturbed(s.busy_before, s.others_during)
                  or (s.block >= 0 and limits.disturbed_at(s.mid)) for s in samples)  # fmt: skip
    return Ratio(tuple(values), drifts, flags)


class Histogrammed(Timed, Protocol):
    """A latency measurement of a round: its percentiles and every latency it timed."""

    @property
    def latency_us(self) -> Mapping[str, int | None]: ...

    @property
    def latency_hist(self) -> str: ...


def pooled(samples: Sequence[Histogrammed], pct: str, limits: Limits) -> Ratio:
    """The percentile ``pct`` (``p99``) of every latency of the rounds used, their histograms
    merged (``ratios.Pooled``), with the rounds' own values as its range. A document before
    version 7 kept no histograms: then the median of the rounds' values (``over_rounds``)."""
    values = [float(s.latency_us.get(pct) or 0) for s in samples]
    base = over_rounds(samples, values, limits)
    blobs = [samples[i].latency_hist for i in base.used]
    if not all(blobs):
        return base
    merged = Histogram()
    for blob in blobs:
        merged.add(Histogram.decode({"blob": blob}))
    q = QUANTILES[pct]
    return Pooled(base.per_round, base.drifts, base.disturbed_rounds, quantile=q,
                  pooled=float(merged.value_at_rank(q)),
                  count=merged.count)  # fmt: skip


Latencies = TypeVar("Latencies", StallSample, AckSample)


def per_subject(samples: Sequence[Latencies]) -> list[tuple[Latencies, ...]]:
    """Each subject's samples that timed anything, in round order; subjects in the order first
    measured."""
    out = []
    for subject in dict.fromkeys(s.subject for s in samples):
        mine = tuple(sorted((s for s in samples if s.subject == subject
                             and s.latency_us.get("p99") is not None),
                            key=lambda s: s.round))  # fmt: skip
        if mine:
            out.append(mine)
    return out


def latencies(mine: Sequence[Latencies], limits: Limits, names: Sequence[str]) -> list[Ratio]:
    """Each percentile of ``names`` over the rounds of one subject's ``mine``, pooled."""
    return [pooled(mine, p, limits) for p in names]


@dataclass(frozen=True, slots=True)
class StallFigure:
    """One subject's stall measurements over the rounds; latencies in µs."""

    subject: str
    samples: tuple[StallSample, ...]  # in round order
    p50: Ratio
    p99: Ratio
    p99_9: Ratio

    @property
    def used(self) -> tuple[StallSample, ...]:
        return tuple(self.samples[i] for i in self.p99.used)

    @property
    def codes_rate(self) -> float:
        return statistics.median(s.codes_rate for s in self.used)

    @property
    def max_us(self) -> float | None:
        return median_known(s.latency_us.get("max") for s in self.used)

    @property
    def service_p99_us(self) -> float | None:
        return median_known(s.service_us.get("p99") for s in self.used)

    def error_marks(self) -> tuple[str, ...]:
        """``round 2: 3 wrong answers``: a round whose single codes were not answered as the
        corpus says (its latencies are not those of the verification asked for)."""
        return tuple(f"round {s.round + 1}: {s.probe_errors} wrong answers" for s in self.used
                     if s.probe_errors)  # fmt: skip

    def marks(self, bounds: Bounds) -> tuple[str, ...]:
        return (*self.p99.marks(bounds), *self.error_marks())


def summarise_stall(samples: Sequence[StallSample], limits: Limits) -> list[StallFigure]:
    """Every subject's figure, in the order first measured (rounds without probes left out)."""
    out = []
    for mine in per_subject(samples):
        p50, p99, p99_9 = latencies(mine, limits, ("p50", "p99", "p99_9"))
        out.append(StallFigure(mine[0].subject, mine, p50, p99, p99_9))
    return out


def stall_json(f: StallFigure, bounds: Bounds) -> StallFigureRecord:
    first = f.samples[0]
    return {
        "subject": f.subject, "rounds": len(f.used), "batch": first.batch,
        "connections": first.connections, "probe_rate": first.probe_rate,
        "probes": sum(s.probes for s in f.samples), "codes_rate": f.codes_rate,
        "p50": ratio_json(f.p50, bounds), "p99": ratio_json(f.p99, bounds),
        "p99_9": ratio_json(f.p99_9, bounds), "max_us": f.max_us,
        "service_p99_us": f.service_p99_us,
        "probe_errors": sum(s.probe_errors for s in f.samples),
        "errors": sum(s.errors for s in f.samples), "wrapped": any(s.wrapped for s in f.samples),
        "marks": list(f.marks(bounds)), "disturbed": f.p99.disturbed,
        "busy_before": max(s.busy_before for s in f.used),
        "others_during": max(s.others_during for s in f.used),
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class AckFigure:
    """One deployment's acknowledgement latency over the rounds; in µs."""

    subject: str
    workers: int
    leases: bool
    samples: tuple[AckSample, ...]  # in round order
    p50: Ratio
    p99: Ratio

    @property
    def used(self) -> tuple[AckSample, ...]:
        return tuple(self.samples[i] for i in self.p99.used)

    @property
    def verify_rate(self) -> float:
        return statistics.median(s.verify_rate for s in self.used)

    @property
    def max_us(self) -> float | None:
        return median_known(s.latency_us.get("max") for s in self.used)

    def refusal_marks(self) -> tuple[str, ...]:
        """``round 2: 1 refused``: a round with messages the hub did not take."""
        return tuple(f"round {s.round + 1}: {s.refused} refused" for s in self.used
                     if s.refused)  # fmt: skip

    def marks(self, bounds: Bounds) -> tuple[str, ...]:
        return (*self.p99.marks(bounds), *self.refusal_marks())


def summarise_acks(samples: Sequence[AckSample], limits: Limits) -> list[AckFigure]:
    """Every deployment's figure, by workers, leases off first (rounds without an
    acknowledged message left out)."""
    out = []
    for mine in per_subject(samples):
        p50, p99 = latencies(mine, limits, ("p50", "p99"))
        out.append(AckFigure(mine[0].subject, mine[0].workers, mine[0].leases, mine, p50, p99))
    return sorted(out, key=lambda f: (f.workers, f.leases))


def ack_json(f: AckFigure, bounds: Bounds) -> AckFigureRecord:
    return {
        "subject": f.subject, "workers": f.workers, "leases": f.leases, "rounds": len(f.used),
        "connections": f.samples[0].connections, "messages": sum(s.messages for s in f.samples),
        "verify_rate": f.verify_rate, "p50": ratio_json(f.p50, bounds),
        "p99": ratio_json(f.p99, bounds), "max_us": f.max_us,
        "refused": sum(s.refused for s in f.samples), "errors": sum(s.errors for s in f.samples),
        "marks": list(f.marks(bounds)), "disturbed": f.p99.disturbed,
        "busy_before": max(s.busy_before for s in f.used),
        "others_during": max(s.others_during for s in f.used),
    }  # fmt: skip
