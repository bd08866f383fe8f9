"""Reports from synthetic runs: the schema, the phases, the accounting, the table and the plot."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from load_runs import RATE, run_data
from load_tests import report as reports
from load_tests.expectations import Check
from load_tests.preflight import Preflight
from load_tests.records import (
    CacheRecord,
    CheckRecord,
    ConfigRecord,
    Counts,
    Delta,
    ExpectedHits,
    Generator,
    HistogramRecord,
    HubRecord,
    Machine,
    PhaseRecord,
    PreflightRecord,
    Report,
    SeriesRow,
    ServerRecord,
    StepRecord,
    ThresholdRecord,
    Tool,
    VerdictRecord,
    as_record,
)
from load_tests.report import HubInfo
from load_tests.runner import RunData
from load_tests.table import render
from load_tests.thresholds import Thresholds
from typed_json import mismatches


def test_the_report_validates_against_its_json_schema(tmp_path: Path) -> None:
    doc = reports.build(run_data(tmp_path), host={"cpu": "x", "cores": 2, "python": "3"})
    schema = json.loads(reports.SCHEMA_FILE.read_text())
    jsonschema.validate(doc, schema)
    assert doc["schema"] == "hcgw-load-report" and doc["schema_version"] == 2
    json.dumps(doc)  # everything in it is JSON


def test_warm_up_is_reported_apart_and_left_out_of_the_measured_figures(tmp_path: Path) -> None:
    doc = reports.build(run_data(tmp_path), host={})
    assert doc["phases"]["warmup"]["completed"] == RATE
    assert doc["phases"]["measured"]["completed"] == 2 * RATE
    assert doc["phases"]["measured"]["rate"] == RATE
    assert [r["second"] for r in doc["series"]] == [0, 1, 2]
    assert [r["target"] for r in doc["series"]] == [RATE, RATE, RATE]
    assert doc["verdict"]["status"] == "VALID" and doc["exit_code"] == 0


def test_latency_from_the_intended_time_charges_a_stall_that_service_time_hides(
    tmp_path: Path,
) -> None:
    doc = reports.build(run_data(tmp_path, stall_ms=300), host={})
    m = doc["phases"]["measured"]["histograms"]
    latency = reports.Histogram.decode({"blob": m["latency"]["histoblob"]})
    # 30 requests were planned during the 300 ms stall; each waited from its intended time.
    assert m["latency"]["max"] == pytest.approx(300_500, rel=0.002)
    assert latency.count_above_us(150_000) == pytest.approx(RATE * 0.3 / 2, abs=1)
    assert m["service"]["max"] == pytest.approx(500, rel=0.002)  # what a closed loop reports
    assert m["lateness"]["max"] == pytest.approx(300_000, rel=0.002)


def test_expected_hit_ratio_counts_repeats_of_the_draws_actually_sent(tmp_path: Path) -> None:
    doc = reports.build(run_data(tmp_path), host={})
    exp = doc["cache"]["expected"]
    assert exp["codes"] == 3 * RATE and exp["distinct_codes"] == 10
    assert exp["warmup"] == pytest.approx(90 / 100)
    assert exp["measured"] == 1.0
    assert doc["cache"]["observed"] is None and doc["server"] is None


def test_a_request_unaccounted_for_makes_the_run_invalid(tmp_path: Path) -> None:
    doc = reports.build(run_data(tmp_path, lose=1), host={})
    assert doc["verdict"]["status"] == "INVALID"
    assert doc["exit_code"] == 3
    failed = [c for c in doc["verdict"]["checks"] if not c["ok"]]
    assert failed[0]["name"] == "accounting" and "sent 300" in failed[0]["detail"]


def test_the_table_leads_with_the_verdict(tmp_path: Path) -> None:
    text = render(reports.build(run_data(tmp_path), host={}))
    assert text.splitlines()[0].startswith("verdict: VALID")
    assert "latency (from intended send)" in text and "service time" in text


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib comes with the load extra")
    from load_tests.plot import write_png

    write_png(reports.build(run_data(tmp_path), host={}), tmp_path / "run.png")
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _scraped(data: RunData) -> RunData:
    """``data`` as if the hub's /metrics had answered before, at the warm-up's end and after."""
    hit = ("hcgw_cache_total", (("layer", "local"), ("outcome", "hit")))
    miss = ("hcgw_cache_total", (("layer", "local"), ("outcome", "miss")))
    valid = ("hcgw_verifications_total", (("outcome", "valid"),))
    return replace(data, scrapes={"before": {hit: 0.0, miss: 0.0, valid: 0.0},
                                  "warmup_end": {hit: 90.0, miss: 10.0, valid: 10.0},
                                  "after": {hit: 290.0, miss: 10.0, valid: 10.0}})  # fmt: skip


def test_a_report_round_trips_through_its_records_and_its_schema(tmp_path: Path) -> None:
    data = _scraped(run_data(tmp_path, steps=((100, 1), (200, 1)), short={2: 40}))
    gates = Thresholds(max_p99_us=5_000, min_rate=150, max_error_rate=0.01)
    doc = reports.build(data, gates, hub=HubInfo("http://127.0.0.1:1", True, 7, 2),
                        host={"cpu": "x", "cores": 2, "python": "3"})  # fmt: skip
    assert doc["server"] is not None and doc["hub"] is not None and doc["thresholds"]
    assert len(doc["steps"]) == 2
    reports.write_json(doc, tmp_path / "run.json")
    back = json.loads((tmp_path / "run.json").read_text())
    jsonschema.validate(back, json.loads(reports.SCHEMA_FILE.read_text()))
    assert mismatches(back, Report) == []  # every section is its record, key for key
    assert back == doc
    assert render(back) == render(doc)  # the table reads a file as it reads the run


SECTIONS = [  # (record, where the schema describes it)
    (Report, ()),
    (Tool, ("properties", "tool")),
    (Machine, ("properties", "host")),
    (ConfigRecord, ("properties", "config")),
    (VerdictRecord, ("properties", "verdict")),
    (CheckRecord, ("properties", "verdict", "properties", "checks", "items")),
    (ThresholdRecord, ("properties", "thresholds", "items")),
    (Counts, ("properties", "counts")),
    (ExpectedHits, ("properties", "cache", "properties", "expected")),
    (CacheRecord, ("properties", "cache")),
    (ServerRecord, ("properties", "server")),
    (SeriesRow, ("properties", "series", "items")),
    (Generator, ("properties", "generator")),
    (HubRecord, ("properties", "hub")),
    (PreflightRecord, ("properties", "preflight")),
    (HistogramRecord, ("$defs", "histogram")),
    (PhaseRecord, ("$defs", "phase")),
    (Delta, ("$defs", "delta")),
    (StepRecord, ("$defs", "step")),
]


@pytest.mark.parametrize(("record", "where"), SECTIONS, ids=[r.__name__ for r, _ in SECTIONS])
def test_each_record_declares_what_the_schema_requires(record: Any, where: tuple[str, ...]) -> None:
    node = json.loads(reports.SCHEMA_FILE.read_text())
    for key in where:
        node = node[key]
    declared = record.__required_keys__ | record.__optional_keys__
    assert set(node.get("required", ())) <= declared
    assert set(node.get("properties", {})) <= declared


@pytest.mark.parametrize(
    ("value", "record"),
    [(Check("x", True, "warning", "d"), CheckRecord), (HubInfo("u"), HubRecord),
     (Preflight("u", "/v1/verify", 200, 0, "valid, green", "valid, green"), PreflightRecord)],
    ids=["check", "hub", "preflight"],
)  # fmt: skip
def test_a_dataclass_becomes_the_record_of_its_section(value: Any, record: Any) -> None:
    assert as_record(value, record) == asdict(value)


def test_a_dataclass_and_a_record_that_drifted_apart_are_refused() -> None:
    with pytest.raises(TypeError, match="detail"):
        as_record(Check("x", True, "warning", "d"), HubRecord)
