"""The bench's arithmetic: targets from the figures of one run, and BENCHMARKS.md from them."""

from __future__ import annotations

from typing import Any

import pytest

from load_tests.bench.markdown import render, scaling
from load_tests.bench.run import BenchConfig, plan
from load_tests.bench.targets import raw_mix, targets


def fig(ok_rate: float, codes_rate: float | None = None) -> dict[str, Any]:
    return {
        "ok_rate": ok_rate, "codes_rate": codes_rate or ok_rate, "rate": ok_rate,
        "latency_us": {"p50": 1000, "p99": 3000}, "errors": {"status": 0}, "wrapped": False,
        "system_busy": 0.9,
    }  # fmt: skip


def doc() -> dict[str, Any]:
    peers = {
        "hcgw core (HCM/1)": {"best": 20_000.0},
        "PyJWT (JWS)": {"best": 10_000.0},
        "joserfc (JWS)": {"best": 12_000.0},
    }
    point = {
        "traffic": "single code, cache hit", "fraction": 0.5, "target_rate": 5000,
        "achieved": 5000, "latency_us": {"p50": 900, "p90": 1500, "p99": 4000, "p99_9": 6000,
        "max": 9000}, "service_us": {"p99": 2000}, "verdict": "VALID", "system_busy": 0.5,
    }  # fmt: skip
    return {
        "started_at": "2026-11-27T00:00:00+00:00",
        "elapsed_s": 100,
        "machine": {"cpu": "x", "cores": 2, "affinity": [0, 1], "memory_gib": 1, "os": "Linux",
                    "python": "3.11", "loadavg": [0, 0, 0], "versions": {}, "wrk": "wrk"},
        "settings": {"seconds": 5, "connections": 32, "wrk_threads": 1},
        "micro": {
            "raw": {
                "Ed25519/libsodium": {"best": 30_000.0},
                "ES256/cryptography": {"best": 10_000.0},
            },
            "peers": {"Ed25519": peers, "ES256": peers},
        },
        "empty": {"rate": 20_000.0, "latency_us": {"p99": 2000},
                  "crosscheck": {"agreement": 0.9, "verdict": "agrees with wrk",
                                 "harness_rate": 18_000}},
        "corpus": {"valid_algs": {"Ed25519": 0.5, "ES256": 0.5}},
        "gateway": {
            "1": {"scenarios": {
                "single code, cache hit": fig(12_000),
                "single code, cache miss": fig(5_000),
                "batch of 100, cache hit": fig(1_000, 100_000),
                "batch of 100, cache miss": fig(120, 12_000),
            }, "open_loop": [point]},
            "2": {"scenarios": {"batch of 100, cache miss": fig(200, 20_000)}},
        },
    }  # fmt: skip


def test_the_raw_limit_of_a_mixed_corpus_adds_the_costs_of_each_algorithm() -> None:
    # Half at 30k/s, half at 10k/s: 1 / (0.5/30000 + 0.5/10000) = 15,000 verifications/s.
    assert raw_mix(doc()) == pytest.approx(15_000)


def test_each_target_is_a_ratio_to_a_limit_of_the_same_run() -> None:
    by_name = {t["target"].split(" ≥")[0].split(":")[0]: t for t in targets(doc())}
    hit = by_name["single code, cache hit"]
    assert hit["ratio"] == pytest.approx(12_000 / 20_000) and hit["met"]
    miss = by_name["single code, cache miss"]
    assert miss["limit_value"] == pytest.approx(1 / (1 / 20_000 + 1 / 15_000))
    assert miss["ratio"] == pytest.approx(5_000 / miss["limit_value"]) and not miss["met"]
    assert by_name["batch of 100, cache miss"]["ratio"] == pytest.approx(12_000 / 15_000)
    assert by_name["batch of 100, cache hit"]["ratio"] == pytest.approx(100_000 / 15_000)
    es = by_name["our core"]
    assert es["ratio"] == pytest.approx(20_000 / 12_000)  # against the fastest peer
    two = by_name["2 workers"]
    assert two["ratio"] == pytest.approx(20_000 / 12_000) and not two["met"]


def test_a_target_from_a_figure_taken_on_a_busy_machine_says_so() -> None:
    d = doc()
    d["gateway"]["1"]["scenarios"]["single code, cache hit"]["busy_before"] = 0.9
    flagged = {t["target"]: t["disturbed"] for t in targets(d)}
    assert flagged["single code, cache hit ≥ 0.6 × empty handler"]
    assert not flagged["single code, cache miss ≥ 0.8 × 1/(1/empty + 1/raw)"]


def test_a_latency_target_is_met_below_its_limit() -> None:
    (p99,) = [t for t in targets(doc()) if "p99" in t["target"]]
    assert p99["value"] == 4.0 and p99["ratio"] == pytest.approx(0.8) and p99["met"]


def test_benchmarks_md_holds_every_figure_and_how_to_reproduce() -> None:
    d = doc()
    d["targets"] = targets(d)
    text = render(d, "hcgw-load bench --seconds 5")
    for needle in (
        "## Limits",
        "## Peers",
        "## Targets",
        "## Closing note",
        "## Reproduce",
        "hcgw-load bench --seconds 5",
        "0.60×",
        "missed: single code, cache miss",
    ):
        assert needle in text, needle  # fmt: skip


def test_the_plan_measures_workers_gunicorn_and_the_cluster_each_on_an_empty_redis() -> None:
    groups = plan(BenchConfig(workers=(1, 2)))
    assert [[d.key for d in group] for group in groups] == [
        ["1", "2"],
        ["2-gunicorn"],
        ["1-cluster", "2-cluster"],
    ]
    assert [d.label for d in groups[2]] == ["1 worker, Redis Cluster", "2 workers, Redis Cluster"]
    assert plan(BenchConfig(workers=(1,), gunicorn=True, cluster=False)) == [groups[0][:1]]


def test_the_scaling_table_divides_each_deployment_by_its_counterpart() -> None:
    d = doc()
    d["gateway"]["2"]["scenarios"]["single code, cache hit"] = fig(18_000)
    d["gateway"]["2-gunicorn"] = {"scenarios": {"batch of 100, cache miss": fig(190, 19_000)}}
    d["gateway"]["1-cluster"] = {"scenarios": {"single code, cache hit": fig(9_000)}}
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in scaling(d)
            if line.startswith("| ") and "÷" not in line}  # fmt: skip
    header = next(line for line in scaling(d) if "÷" in line)
    assert header == ("| scenario | 2 ÷ 1 workers | gunicorn ÷ supervisor, 2 workers | "
                      "cluster ÷ one Redis, 1 worker |")  # fmt: skip
    assert rows["batch of 100, cache miss"] == ["1.67×", "0.95×", "– |"]
    assert rows["single code, cache hit"] == ["1.50×", "–", "0.75× |"]
