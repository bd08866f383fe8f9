"""Observability of the hub: Prometheus metrics, recent management writes, error log lines.

- ``catalogue``: :class:`Metrics`, every metric family, built once per process by ``create_app``.
- ``exposition``: the text /metrics answers, in one process or totalled over every worker.
- ``events``: the ring of the last management writes the dashboard shows.
- ``logs``: the log line formats (JSON lines or text), and one JSON line per error answer.

Nothing here is module state: each app owns its ``Metrics`` (STYLE 16).
"""

from gateway.metrics.catalogue import LATENCY_BUCKETS, Metrics, observe_many

__all__ = ["LATENCY_BUCKETS", "Metrics", "observe_many"]
