"""Reports from synthetic runs: the schema, the phases, the accounting, the table and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from load_runs import RATE, run_data
from load_tests import report as reports
from load_tests.table import render


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
