"""``hcgw-load run --metrics-listen 127.0.0.1:9464``: the run's own figures for Prometheus.

While the run goes, the coordinator serves its counters and latency histograms in Prometheus'
text format, so one Prometheus scraping the hub and the generator shows offered against
achieved load side by side (``rate(hcgw_load_planned_requests_total[10s])`` next to
``rate(hcgw_load_answers_total{status="200"}[10s])`` and the hub's own
``hcgw_verifications_total``). Figures move once per merged second, when every generator
process has reported it; the HdrHistograms are folded into fixed buckets (0.5 ms … 10 s).
Its own registry, no default one (STYLE 16); loopback addresses only, like the targets.
"""

from __future__ import annotations

import collections
import ipaddress
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from load_tests.generator import Second
from load_tests.histograms import Histogram
from load_tests.schedule import NS, Schedule

BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
_KINDS = {"latency": "from the intended send time", "service": "from the actual send time"}


def listen_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not ipaddress.ip_address(host).is_loopback:
        raise ValueError(
            f"--metrics-listen {text}: expected a loopback HOST:PORT, e.g. 127.0.0.1:9464"
        )
    return host, int(port)


class _Buckets:
    """A Prometheus histogram's cumulative buckets and sum, added to second by second."""

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS_S)
        self.total = 0
        self.sum_s = 0.0

    def add(self, h: Histogram) -> None:
        for item in h.hdr.get_recorded_iterator():
            value_s, n = item.value_iterated_to / 1e6, item.count_at_value_iterated_to
            for i, bound in enumerate(BUCKETS_S):
                if value_s <= bound:
                    self.counts[i] += n
            self.sum_s += value_s * n
        self.total += h.count + h.out_of_range

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        buckets = [(f"{b:g}", c) for b, c in zip(BUCKETS_S, self.counts, strict=True)]
        buckets.append(("+Inf", self.total))
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=self.sum_s)


class LiveFigures(Collector):
    """What the run did so far, folded from the coordinator's merged seconds."""

    def __init__(self, schedule: Schedule | None, warmup_s: int, total_s: float) -> None:
        self._schedule, self._warmup_s, self._total_s = schedule, warmup_s, total_s
        self._lock = threading.Lock()
        self._planned = self._sent = 0
        self._answers: collections.Counter[str] = collections.Counter()
        self._lost: collections.Counter[str] = collections.Counter()
        self._hist = {kind: _Buckets() for kind in _KINDS}
        self._second = -1
        self._inflight = 0
        self._target = 0.0

    def second(self, second: int, merged: Second) -> None:
        """Called by the coordinator once every process has reported ``second``."""
        planned = 0
        if self._schedule is not None:
            planned = self._schedule.count_between(second * NS, (second + 1) * NS)
        with self._lock:
            self._second, self._planned = second, self._planned + planned
            self._target = float(planned)
            self._sent += merged.counts["sent"]
            self._inflight = merged.counts["inflight"]
            self._answers.update(merged.status)
            self._lost.update(merged.errors)
            for kind, buckets in self._hist.items():
                buckets.add(merged.hist[kind])

    def phase(self) -> str:
        if self._second < 0:
            return "starting"
        if self._second < self._warmup_s:
            return "warmup"
        return "measured" if self._second < round(self._total_s) else "drain"

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            planned = CounterMetricFamily(
                "hcgw_load_planned_requests", "Requests the plan had due (open loop: the offer)"
            )
            planned.add_metric([], self._planned)
            yield planned
            sent = CounterMetricFamily("hcgw_load_sent_requests", "Requests sent")
            sent.add_metric([], self._sent)
            yield sent
            answers = CounterMetricFamily(
                "hcgw_load_answers", "Answers by HTTP status", labels=["status"]
            )
            for status, n in sorted(self._answers.items()):
                answers.add_metric([status], n)
            yield answers
            lost = CounterMetricFamily(
                "hcgw_load_lost_requests", "Requests lost, by how", labels=["kind"]
            )
            for kind, n in sorted(self._lost.items()):
                lost.add_metric([kind], n)
            yield lost
            for kind, what in _KINDS.items():
                yield self._hist[kind].family(f"hcgw_load_{kind}_seconds", f"Latency {what}")
            target = GaugeMetricFamily(
                "hcgw_load_target_rate", "Planned requests in the last merged second"
            )
            target.add_metric([], self._target)
            yield target
            inflight = GaugeMetricFamily(
                "hcgw_load_in_flight", "Requests in flight at the last merged second"
            )
            inflight.add_metric([], self._inflight)
            yield inflight
            phase = GaugeMetricFamily(
                "hcgw_load_phase", "1 for the phase the run is in", labels=["phase"]
            )
            for name in ("starting", "warmup", "measured", "drain"):
                phase.add_metric([name], 1.0 if name == self.phase() else 0.0)
            yield phase
            second = GaugeMetricFamily("hcgw_load_second", "The last merged second of the run")
            second.add_metric([], self._second + 1)
            yield second


class LiveServer:
    """Serves a :class:`LiveFigures` on ``host:port`` until ``close``."""

    def __init__(self, figures: LiveFigures, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(figures)
        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        self.url = f"http://{host}:{self._server.server_port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
