"""What Prometheus reads: one process's metrics, or the total over every worker process.

prometheus-client decides once, at import, whether metric values live in process memory or in
per-process memory-mapped files: it does so when ``PROMETHEUS_MULTIPROC_DIR`` is set, as the
supervisor sets it for its workers. :func:`multiprocess_dir` asks the library which it chose, so
the two cannot disagree. In that mode /metrics on any worker merges every worker's files
(``MultiProcessCollector``): counters and histograms add up, gauges follow their
``multiprocess_mode`` (``livesum`` for in-flight requests, ``livemostrecent`` for shared state).
A worker that exits is marked dead by the supervisor, which drops its live gauges; its counts
stay in the totals, as a counter's must.

Process metrics (``process_cpu_seconds_total``, ``process_resident_memory_bytes``, open and
maximum file descriptors, start time: prometheus-client's process collector) are the exception to
the totals: they are read from ``/proc`` at exposition for each live worker and labelled with its
``pid``, since a sum of start times or of fd limits means nothing. The live workers are the ones
whose ``gauge_livesum_<pid>.db`` file is there: every worker writes it at start (requests in
flight) and the supervisor removes it when the worker ends (``mark_process_dead``). The dashboard
(:func:`families`) does not read them.

A gauge of this process's memory is read, not pushed: :class:`Publisher` sets it from a reader
before every exposition, and in multi-process mode also once a second from a daemon thread, so
the other workers' scrapes see it at most a second late.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Metric,
    ProcessCollector,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gateway.handshake import METRICS_DIR

PUBLISH_EVERY = 1.0  # seconds


def multiprocess_dir() -> str | None:
    """The shared metrics directory when prometheus-client runs in multi-process mode."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    # The variable the library read to choose its mode (its spelling since prometheus-client 0.10).
    return os.environ.get(METRICS_DIR)


def _source(registry: CollectorRegistry, directory: str | None) -> CollectorRegistry:
    if directory is None:
        return registry
    merged = CollectorRegistry()
    MultiProcessCollector(merged, directory)  # type: ignore[no-untyped-call]
    return merged


def exposition(registry: CollectorRegistry, directory: str | None) -> bytes:
    """The text format (0.0.4) of ``registry``, or of every worker's files, and every live
    worker's process metrics."""
    processes = CollectorRegistry(auto_describe=False)
    processes.register(WorkerProcesses(directory))
    return generate_latest(_source(registry, directory)) + generate_latest(processes)


def families(registry: CollectorRegistry, directory: str | None) -> Iterable[Metric]:
    """The same metric families :func:`exposition` renders, for the dashboard to read."""
    return _source(registry, directory).collect()


def live_pids(directory: str | None) -> list[int]:
    """This process alone, or every worker that writes to ``directory`` and has not ended."""
    if directory is None:
        return [os.getpid()]
    return sorted(
        int(p.stem.rpartition("_")[2]) for p in Path(directory).glob("gauge_livesum_*.db")
    )


class WorkerProcesses(Collector):
    """``process_*`` of every live worker, each series labelled with the worker's ``pid``."""

    def __init__(self, directory: str | None) -> None:
        self._directory = directory

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for pid in live_pids(self._directory):
            # A worker that ended since the listing has no /proc entry: the collector then
            # yields nothing for it (it reads /proc/<pid> and passes over an OSError).
            one = ProcessCollector(pid=lambda pid=pid: pid, registry=None)  # type: ignore[misc]
            for family in one.collect():
                into = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for s in family.samples:
                    into.add_sample(s.name, {"pid": str(pid), **s.labels}, s.value)
        return list(merged.values())


class Publisher:
    def __init__(self, background: bool) -> None:
        self._background = background
        self._watched: list[tuple[Gauge, Callable[[], float]]] = []
        self._thread: threading.Thread | None = None

    def watch(self, gauge: Gauge, read: Callable[[], float]) -> None:
        self._watched.append((gauge, read))
        gauge.set(read())
        if self._background and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="hcgw-metrics-publisher", daemon=True
            )
            self._thread.start()

    def read(self, gauge: Gauge) -> float:
        return sum(read() for g, read in self._watched if g is gauge)

    def publish(self) -> None:
        for gauge, read in self._watched:
            gauge.set(read())

    def _run(self) -> None:
        tick = threading.Event()
        while not tick.wait(PUBLISH_EVERY):
            # A reader racing the event loop sees an int or a dict's length: atomic under the
            # GIL. At interpreter exit the files may be closed under us; the thread just ends.
            with contextlib.suppress(Exception):
                self.publish()
