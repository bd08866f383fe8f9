"""The dashboard's figures as pure functions (gateway.operator.figures): percentiles as PromQL's
histogram_quantile gives them, rates between two readings, the red-spike rule at its edges, error
answers by status from their error codes, sums that do not care about labels added later; and the
list of management writes that keeps key writes and refusals behind a flood of status pushes."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.metrics import Metrics
from gateway.metrics.events import ManagementEvents
from gateway.operator.figures import (
    ERROR_CLASS,
    History,
    Reading,
    Window,
    build,
    percentiles,
    quantile,
    red_spike,
)
from gateway.operator.tiles import TILES

GD = "440000"


def reading(metrics: Metrics) -> Reading:
    return Reading(metrics.registry.collect())


def figures(metrics: Metrics, history: History, at: float) -> dict[str, Any]:
    return build(
        reading(metrics),
        history,
        window=1.0,
        mono_now=at,
        wall_now=1_800_000_000.0,
        issuers=[GD],
        events=[],
        pid=1,
    )


class TestQuantile:
    # cumulative, as exposed
    BUCKETS: ClassVar[dict[float, float]] = {0.1: 10.0, 0.5: 30.0, 1.0: 38.0, math.inf: 40.0}

    @pytest.mark.parametrize(
        ("q", "expected"),
        [
            (0.25, 0.1),  # rank 10: the top of the first bucket
            (0.5, 0.1 + 0.4 * (20 - 10) / (30 - 10)),  # linear inside (0.1, 0.5]
            (0.05, 0.1 * 2 / 10),  # the first bucket starts at 0
            (0.95, 1.0),  # past the last finite bucket: its bound is all that is known
        ],
    )
    def test_is_linear_inside_the_bucket_holding_the_rank(self, q: float, expected: float) -> None:
        assert quantile(q, self.BUCKETS) == pytest.approx(expected)

    def test_without_observations_there_is_none(self) -> None:
        assert quantile(0.5, {}) is None
        assert quantile(0.5, {0.1: 0.0, math.inf: 0.0}) is None

    def test_over_a_window_only_the_observations_in_it_count(self) -> None:
        registry = CollectorRegistry()
        h = Histogram("lat", "", buckets=(0.1, 1.0), registry=registry)
        for _ in range(100):
            h.observe(0.05)  # before the window: fast
        then = Reading(registry.collect())
        for _ in range(10):
            h.observe(0.5)  # in the window: slow
        now = Reading(registry.collect())
        window = percentiles(Window(now, then, 1.0), "lat_bucket", {})
        assert window["count"] == 10 and window["p50"] == pytest.approx(0.55)
        assert percentiles(Window(now, None, None), "lat_bucket", {})["p50"] == pytest.approx(0.055)


class TestRates:
    def test_a_rate_is_the_difference_over_the_seconds_between_two_readings(self) -> None:
        m, history = Metrics([GD]), History()
        first = figures(m, history, at=100.0)
        assert first["window"] is None and first["requests"]["errors"]["401"]["rate"] is None
        for _ in range(80):
            m.count_error("unauthenticated")
        second = figures(m, history, at=102.0)
        assert second["window"] == 2.0
        assert second["requests"]["errors"]["401"] == {"total": 80.0, "rate": 40.0}

    def test_a_counter_that_went_back_a_worker_restarted_gives_no_negative_rate(self) -> None:
        before, after = CollectorRegistry(), CollectorRegistry()  # the worker, then its successor
        Counter("hits", "", registry=before).inc(50)
        Counter("hits", "", registry=after).inc(3)
        window = Window(Reading(after.collect()), Reading(before.collect()), 1.0)
        assert window.rate("hits_total") == 0.0

    def test_sums_ignore_labels_added_later_and_created_series(self) -> None:
        registry = CollectorRegistry()
        h = Histogram("req", "", ["route", "code", "method"], buckets=(0.1,), registry=registry)
        for code, n in (("200", 5), ("401", 40), ("503", 1)):
            for _ in range(n):
                h.labels("/v1/verify", code, "POST").observe(0.01)
        r = Reading(registry.collect())
        assert r.sum("req_count", route="/v1/verify") == 46
        assert r.sum("req_count", code="401") == 40
        assert r.buckets("req_bucket", route="/v1/verify") == {0.1: 46, math.inf: 46}
        assert r.get("req_created", route="/v1/verify") is None


class TestErrorsByStatus:
    def test_each_error_code_is_drawn_on_the_line_of_its_status(self) -> None:
        assert ERROR_CLASS["unauthenticated"] == "401"
        assert ERROR_CLASS["bad_signature"] == ERROR_CLASS["issuer_scope"] == "403"
        assert ERROR_CLASS["rate_limited"] == "429"
        assert {ERROR_CLASS[e] for e in ("internal", "unavailable", "overloaded")} == {"5xx"}
        assert ERROR_CLASS["replay"] == ERROR_CLASS["not_found"] == "other_4xx"

    def test_the_panel_sums_the_codes_of_each_status(self) -> None:
        m, history = Metrics([GD]), History()
        figures(m, history, at=0.0)
        for error, n in (("forbidden", 2), ("bad_signature", 3), ("unavailable", 4)):
            for _ in range(n):
                m.count_error(error)
        m.count_error("internal")
        errors = figures(m, history, at=1.0)["requests"]["errors"]
        assert errors["403"]["rate"] == 5 and errors["5xx"]["rate"] == 5
        assert errors["401"]["rate"] == errors["429"]["rate"] == errors["other_4xx"]["rate"] == 0


class TestRedSpike:
    @pytest.mark.parametrize(
        ("red", "codes", "baseline", "spikes"),
        [
            (5, 10, 0.0, True),  # the least that spikes
            (5, 9, 0.0, False),  # too few codes
            (4, 10, 0.0, False),  # too few red
            (6, 10, 0.29, True),  # 60 % >= 2 x 29 % + 2 points
            (6, 10, 0.30, False),  # 60 % < 2 x 30 % + 2 points
            (5, 10, None, True),  # no baseline: against 0
            (None, None, 0.0, False),  # a worker's first poll
        ],
    )
    def test_at_its_edges(
        self, red: float | None, codes: float | None, baseline: float | None, spikes: bool
    ) -> None:
        assert red_spike(red, codes, baseline) is spikes

    def test_the_hub_red_share_is_red_over_every_code_in_the_window(self) -> None:
        m, history = Metrics([GD]), History()
        figures(m, history, at=0.0)
        m.verifications.labels(GD, "green").inc(990)
        m.verifications.labels(GD, "red").inc(10)
        doc = figures(m, history, at=1.0)
        assert doc["verifications"]["red_share"] == pytest.approx(0.01)
        tile = next(t for t in doc["issuers"] if t["iss"] == GD)
        assert tile["red_share"] == pytest.approx(0.01) and not tile["red_spike"]
        assert len(doc["issuers"]) == len(TILES)


class TestManagementEvents:
    def test_key_writes_and_refusals_stay_listed_behind_status_pushes(self) -> None:
        events = ManagementEvents(None)
        events.record({"iss": GD, "action": "key.revoke", "outcome": "ok", "kid": "k"}, at=1.0)
        events.record({"iss": GD, "action": "status", "outcome": "stale_seq"}, at=2.0)
        for i in range(200):
            events.record({"iss": GD, "action": "status", "outcome": "ok", "seq": i}, at=3.0 + i)
        listed = events.recent(20)
        assert [(e["action"], e["outcome"]) for e in listed[-2:]] == [
            ("status", "stale_seq"),
            ("key.revoke", "ok"),
        ]
        assert len(listed) == 22 and [e["seq"] for e in listed[:20]] == list(range(199, 179, -1))
        assert [e["at"] for e in listed] == sorted((e["at"] for e in listed), reverse=True)
