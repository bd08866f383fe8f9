"""The bench's arithmetic: targets from the rounds of one run, and BENCHMARKS.md from them.

The rounds' own order, ratios and marks are in test_bench_rounds.py; the last test here runs a
tiny real bench end to end (wrk, a gateway, an embedded Redis).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bench_docs import RATES, document, simulate
from load_tests.bench.document import BenchDoc
from load_tests.bench.figures import view
from load_tests.bench.markdown import render
from load_tests.bench.run import BenchConfig, plan
from load_tests.bench.summary import record_targets, summarise
from load_tests.bench.tables import scaling
from load_tests.bench.targets import Target
from load_tests.histograms import Histogram
from typed_json import mismatches


def by_name(d: BenchDoc) -> dict[str, Target]:
    # issue 4's targets (issue 11's goals for the same figures restate their ratios)
    return {t.name.split(" ≥")[0].split(":")[0]: t for t in record_targets(d, view(d))
            if not t.restates}  # fmt: skip


def median(t: Target) -> float:
    assert t.ratio is not None
    return t.ratio.median


def test_each_target_is_a_median_of_per_round_ratios_to_a_limit_of_the_same_run() -> None:
    ts = by_name(document())
    hit = ts["single code, cache hit"]
    assert median(hit) == pytest.approx(12_000 / 20_000) and hit.met
    miss = ts["single code, cache miss"]
    serial = 1 / (1 / 20_000 + 1 / 15_000)
    assert miss.limit_value == pytest.approx(serial)
    assert median(miss) == pytest.approx(5_000 / serial)
    assert miss.met is False
    assert median(ts["batch of 100, cache miss"]) == pytest.approx(12_000 / 15_000)
    assert median(ts["batch of 100, cache hit"]) == pytest.approx(100_000 / 15_000)
    two = ts["2 workers"]
    assert median(two) == pytest.approx(20_000 / 12_000) and two.met is False


def test_the_peer_target_is_against_the_fastest_peer_round_by_round() -> None:
    ts = by_name(document())
    es = ts["our core"]
    assert median(es) == pytest.approx(20_000 / 12_000)
    assert es.ratio is not None and len(es.ratio.per_round) == 5


def busy(rounds: set[int]) -> BenchDoc:
    """A run whose single-hit measurements on 1 worker in ``rounds`` found the machine busy."""
    run = simulate()
    samples = tuple(replace(s, busy_before=0.9, ok_rate=s.ok_rate / 2)
                    if (s.subject, s.scenario) == ("1", "single code, cache hit")
                    and s.round in rounds else s for s in run.samples)  # fmt: skip
    return document(replace(run, samples=samples))


def test_a_round_measured_on_a_busy_machine_is_left_out_of_its_figure() -> None:
    hit = by_name(busy({0}))["single code, cache hit"]
    assert hit.ratio is not None and hit.ratio.used == (1, 2, 3)
    assert median(hit) == pytest.approx(0.6) and not hit.disturbed


def test_a_target_from_a_figure_taken_on_a_busy_machine_says_so() -> None:
    ts = by_name(busy({0, 1, 2}))
    assert ts["single code, cache hit"].disturbed
    assert not ts["single code, cache miss"].disturbed


def test_a_latency_target_is_met_below_its_limit() -> None:
    p99 = by_name(document())["open loop at 50 % of max (single code, cache hit)"]
    assert p99.value == 4.0 and median(p99) == pytest.approx(0.8) and p99.met


def test_benchmarks_md_holds_every_figure_with_its_range_and_how_to_reproduce() -> None:
    text = render(document(), "hcgw-load bench --seconds 3")
    for needle in (
        "## Limits",
        "## Peers",
        "## The gateway: maximum rates",
        "## Scaling",
        "## Targets",
        "## Closing note",
        "## Reproduce",
        "hcgw-load bench --seconds 3",
        "| 1 worker | single code, cache hit | 12,000 | 12,000 | 1.00 / 3.00 | 0.60× (0.60–0.60) |",
        "| empty aiohttp POST handler, wrk | 20,000 req/s | 20,000–20,000 | 0% |",
        "missed: single code, cache miss",
        "## A batch does not stall its worker",
        "## The write side: a `status` message's acknowledgement on busy workers",
        "| cached single p99 beside 1,000-code miss batches ≤ 10 ms | 6.00 | 10.00 (10 ms) |",
        "Met: 9 of 16 counted (16 targets).",
    ):
        assert needle in text, needle  # fmt: skip


def test_the_json_carries_the_figures_with_their_ranges() -> None:
    d = document()
    summarise(d)
    back = json.loads(json.dumps(d))
    hit = back["figures"]["1"]["single code, cache hit"]
    assert hit["per_empty"]["median"] == pytest.approx(0.6)
    assert hit["per_empty"]["per_round"] == [pytest.approx(0.6)] * 4
    assert back["limits"]["empty"]["median"] == 20_000
    two = "2 workers ≥ 1.7 × 1 worker, batch cache miss"
    assert two in {t["target"] for t in back["targets"]}


def test_the_plan_measures_workers_gunicorn_and_the_cluster_each_on_an_empty_redis() -> None:
    groups = plan(BenchConfig(workers=(1, 2)))
    assert [[d.key for d in group] for group in groups] == [
        ["1", "2"],
        ["2-gunicorn"],
        ["1-cluster", "2-cluster"],
        ["1-noleases", "2-noleases"],  # the acknowledgement slots' deployments without leases
    ]
    assert [d.label for d in groups[2]] == ["1 worker, Redis Cluster", "2 workers, Redis Cluster"]
    assert all(d.leases for group in groups[:3] for d in group)  # the hub's default
    assert groups[3][1].label == "2 workers, lease_invalidation off" and not groups[3][1].leases
    assert plan(BenchConfig(workers=(1,), gunicorn=True, cluster=False, ack_seconds=0)) == [
        groups[0][:1]]  # fmt: skip


def test_the_scaling_table_divides_each_deployment_by_its_counterpart_round_by_round() -> None:
    rates = {**RATES, "2-gunicorn": {k: v * 0.95 for k, v in RATES["2"].items()},
             "1-cluster": {k: v * 0.75 for k, v in RATES["1"].items()}}  # fmt: skip
    d = document(simulate(rates))
    lines = scaling(d, view(d))
    header = next(line for line in lines if "÷" in line and line.startswith("| scenario"))
    assert header == ("| scenario | 2 ÷ 1 workers | gunicorn ÷ supervisor, 2 workers | "
                      "cluster ÷ one Redis, 1 worker |")  # fmt: skip
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in lines
            if line.startswith("| ") and "÷" not in line}  # fmt: skip
    assert rows["batch of 100, cache miss"] == ["1.67× (1.67–1.67)", "0.95× (0.95–0.95)",
                                                "0.75× (0.75–0.75) |"]  # fmt: skip


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (apt-get install -y wrk)")
def test_a_tiny_bench_runs_end_to_end_and_its_page_comes_back_from_its_json(
    tmp_path: Path,
) -> None:
    from load_tests.cli import main

    out, js = tmp_path / "BENCHMARKS.md", tmp_path / "latest.json"
    # Codes enough for the stall's batches of 1,000 new codes, a second of them a round.
    code = main(["bench", "--workers", "1", "--no-gunicorn", "--no-cluster", "--no-profile",
                 "--no-peers", "--no-crosscheck", "--codes", "30000", "--seconds", "1",
                 "--rounds", "2", "--scenarios", "single-hit", "--open-loop-seconds", "1",
                 "--stall-seconds", "1", "--ack-seconds", "1",
                 "--max-wait", "0", "--out", str(out), "--json", str(js),
                 "--workdir", str(tmp_path / "work")])  # fmt: skip
    assert code == 0
    doc = json.loads(js.read_text())
    assert doc["schema_version"] == 7
    assert mismatches(doc, BenchDoc) == []  # every section its record, key for key
    # Per round: a limit slot, the gateway, a limit slot, the open-loop points, the stall and
    # the acknowledgements (one block); one to close.
    assert len(doc["rounds"]["samples"]) == 2 and len(doc["rounds"]["limits"]) == 5
    assert doc["figures"]["1"]["single code, cache hit"]["ok_rate"] > 0
    points = doc["rounds"]["open_loop"]
    assert sorted((p["round"], p["fraction"]) for p in points) == [
        (r, f) for r in (0, 1) for f in (0.25, 0.5, 0.75)]  # fmt: skip
    maxima = {s["round"]: s["ok_rate"] for s in doc["rounds"]["samples"]}
    for p in points:  # a fraction of the maximum its own round measured
        assert p["target_rate"] == max(1, round(maxima[p["round"]] * p["fraction"]))
        assert p["latency_us"]["p99"] is not None and p["verdict"]
        assert Histogram.decode({"blob": p["latency_hist"]}).count > 0  # every latency kept
    assert [(p["fraction"], len(p["verdicts"])) for p in doc["open_loop"]] == [
        (0.25, 2), (0.5, 2), (0.75, 2)]  # fmt: skip
    assert all(p["p99"]["pooled"] > 0 for p in doc["open_loop"])  # both rounds' latencies
    # A cached single code beside batches of new codes, once a round, every answer right.
    blocks = {p["round"]: p["block"] for p in points}
    stall = doc["rounds"]["stall"]
    assert [(s["round"], s["subject"], s["batch"]) for s in stall] == [(0, "1", 1000),
                                                                        (1, "1", 1000)]
    for s in stall:
        assert s["block"] == blocks[s["round"]]  # the open-loop block of its round
        assert s["probes"] >= 50 and s["probe_errors"] == 0 and s["errors"] == 0
        assert s["codes_rate"] > 0 and not s["wrapped"]  # batches of codes new to the hub
        assert 0 < s["latency_us"]["p50"] <= s["latency_us"]["p99"] <= s["latency_us"]["max"]
        assert Histogram.decode({"blob": s["latency_hist"]}).count == s["probes"]
    # The acknowledgements: 1 worker, leases on (the rounds' deployment) and off.
    acks = doc["rounds"]["acks"]
    assert sorted((a["round"], a["subject"], a["leases"]) for a in acks) == [
        (r, k, k == "1") for r in (0, 1) for k in ("1", "1-noleases")]  # fmt: skip
    for a in acks:
        assert a["block"] == blocks[a["round"]]
        assert a["messages"] >= 10 and a["refused"] == 0 and a["verify_rate"] > 0
        assert a["latency_us"]["p50"] <= a["latency_us"]["p99"] <= a["latency_us"]["max"]
        assert Histogram.decode({"blob": a["latency_hist"]}).count == a["messages"]
    assert doc["gateway"]["1-noleases"]["lease_invalidation"] is False
    assert doc["gateway"]["1"]["lease_invalidation"] is True
    assert [(f["subject"], len(f["p99"]["per_round"])) for f in doc["acks"]] == [
        ("1-noleases", 2), ("1", 2)]  # fmt: skip
    assert doc["stall"][0]["probes"] == sum(s["probes"] for s in stall)
    page = out.read_text()
    assert "Each point once in each of the 2 rounds" in page
    assert "| 1 worker, lease_invalidation off | off |" in page
    assert "`lease_invalidation` on (the hub's default): the rounds' deployments" in page
    assert "| 1 worker | " in page.split("## A batch does not stall its worker")[1]
    targets = {t["target"]: t for t in doc["targets"]}
    assert targets["cached single p99 beside 1,000-code miss batches ≤ 10 ms"]["value"] > 0
    two = "status / revoke acknowledgement p99 ≤ 10 ms, 2 workers busy, lease_invalidation on"
    assert targets[two]["value"] is None  # one worker only: not measured
    assert main(["bench", "--from-json", str(js), "--out", str(out)]) == 0
    assert out.read_text() == page


def test_a_priming_that_fails_says_what_provinces_sim_said(tmp_path: Path) -> None:
    """The bench primes each deployment with ``provinces_sim prime``; when that fails, the run
    stops with the simulator's own message, not only its exit status."""
    from load_tests.bench import hub

    missing = tmp_path / "no-corpus"
    with pytest.raises(RuntimeError, match=r"priming http://127\.0\.0\.1:9 failed \(exit status "
                       r"\d+\): .*no-corpus"):  # fmt: skip
        hub.prime(missing, "http://127.0.0.1:9")
