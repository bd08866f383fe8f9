"""A real scraper: Debian's ``prometheus`` scrapes the hub on loopback and PromQL over its HTTP
API gives back the counts and rates that were sent; ``promtool`` accepts our /metrics output,
the shipped scrape config and alert rules, and the rules' unit tests (deploy/prometheus/).

Skipped, with the reason, when the binaries are absent (Debian: ``apt-get install prometheus``).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from factory import BJ, GD, MSGPACK, bearer
from gateways import free_port

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package: prometheus)"
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not installed (Debian package: prometheus)"
)
ALERTS = {
    "HcgwDown",
    "HcgwRedisDown",
    "HcgwErrorRatioHigh",
    "HcgwVerifyLatencyP99OverBudget",
    "HcgwTrustListNearExpiry",
    "HcgwIssuerKeysNearExpiry",
    "HcgwStatusLagHigh",
}


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=DEPLOY,
        check=False,
    )


@needs_promtool
def test_the_shipped_config_and_rules_pass_promtool_and_their_unit_tests() -> None:
    for args in (
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
    ):
        done = promtool(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    unit = (DEPLOY / "alerts_test.yml").read_text()
    assert all(f"alertname: {name}" in unit for name in ALERTS)  # each alert is exercised


@needs_promtool
async def test_promtool_accepts_the_hubs_metrics_output(make_hub) -> None:
    hub = await make_hub()
    w = hub.world
    assert (await hub.post(f"/v1/issuers/{GD}/keys", data=w.key_add(GD), headers=MSGPACK)).status
    for body in (w.code(GD), w.code(GD, col=2), b"junk", b"x" * 5000):
        await hub.post("/v1/verify", data=body, headers={**bearer(), **MSGPACK})
    metrics = await (await hub.get("/metrics")).read()
    done = promtool("check", "metrics", stdin=metrics)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def started_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    assert PROMETHEUS is not None
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        f"rule_files:\n  - {DEPLOY / 'alerts.yml'}\n"
        "scrape_configs:\n"
        "  - job_name: hcgw\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
async def prometheus_for(tmp_path: Path) -> AsyncIterator:
    processes: list[subprocess.Popen[bytes]] = []

    async def start(target: str) -> str:
        process, url = started_prometheus(tmp_path, target)
        processes.append(process)
        return url

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def query(s: aiohttp.ClientSession, url: str, promql: str, at: float | None = None) -> list:
    params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
    async with s.get(f"{url}/api/v1/query", params=params) as r:
        doc = await r.json()
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


async def until(s, url: str, promql: str, want, within: float = 20.0) -> list:
    deadline = time.monotonic() + within
    while True:
        try:
            result = await query(s, url, promql)
            if want(result):
                return result
        except aiohttp.ClientError:
            result = None  # Prometheus is still starting
        assert time.monotonic() < deadline, (promql, result)
        await asyncio.sleep(0.25)


@needs_prometheus
async def test_prometheus_scrapes_the_counts_and_rates_that_were_sent(
    make_hub, prometheus_for
) -> None:
    hub = await make_hub()
    w = hub.world
    for iss in (GD, BJ):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=w.key_add(iss), headers=MSGPACK)
        assert r.status == 201
    url = await prometheus_for(f"127.0.0.1:{hub.server.port}")
    async with aiohttp.ClientSession() as s:
        await until(s, url, 'up{job="hcgw"}', lambda r: r and r[0]["value"][1] == "1")
        # Traffic at a steady pace: every 100 ms, 8 green, 1 red, 1 malformed: 100 codes/s.
        sent: Counter[str] = Counter()
        timeline: list[tuple[float, int]] = []
        started = time.time()
        tick = 0
        while time.time() < started + 6.0:
            batch = [w.code(GD) for _ in range(6)] + [w.code(BJ) for _ in range(2)]
            batch += [w.code(GD, col=2), b"junk"]
            answers = await asyncio.gather(
                *(hub.post("/v1/verify", data=b, headers={**bearer(), **MSGPACK}) for b in batch)
            )
            assert {a.status for a in answers} == {200}
            sent.update({"green": 8, "red": 1, "malformed": 1})
            timeline.append((time.time(), sum(sent.values())))
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * 0.1 - time.time()))
        total = sum(sent.values())
        await until(
            s,
            url,
            "sum(hcgw_verifications_total)",
            lambda r: r and float(r[0]["value"][1]) == total,
        )
        by_outcome = await query(s, url, "sum by (outcome) (hcgw_verifications_total) > 0")
        assert {x["metric"]["outcome"]: float(x["value"][1]) for x in by_outcome} == sent
        requests = await query(
            s, url, 'sum(hcgw_request_duration_seconds_count{route="/v1/verify"})'
        )
        assert float(requests[0]["value"][1]) == total
        by_issuer = await query(s, url, 'sum by (iss) (hcgw_verifications_total{outcome="green"})')
        assert {x["metric"]["iss"]: float(x["value"][1]) for x in by_issuer} == {
            GD: 6 * tick,
            BJ: 2 * tick,
            "unknown": 0,
            "420000": 0,
        }
        # The rate over a window well inside the traffic, against the driver's own count in it.
        t0, t1 = started + 2.0, started + 5.0
        in_window = [n for t, n in timeline if t0 < t <= t1]
        driven = (in_window[-1] - in_window[0]) / (t1 - t0) if in_window else 0.0
        rate = await query(s, url, "sum(rate(hcgw_verifications_total[3s]))", at=t1)
        assert float(rate[0]["value"][1]) == pytest.approx(driven, rel=0.25)
        p99 = await query(
            s,
            url,
            "histogram_quantile(0.99, sum by (le) "
            '(rate(hcgw_request_duration_seconds_bucket{route="/v1/verify"}[3s])))',
            at=t1,
        )
        assert 0 < float(p99[0]["value"][1]) < 2.5
        async with s.get(f"{url}/api/v1/rules") as r:
            groups = (await r.json())["data"]["groups"]
        rules = {rule["name"]: rule for g in groups for rule in g["rules"]}
        assert set(rules) == ALERTS and all(x["health"] == "ok" for x in rules.values())
        assert rules["HcgwRedisDown"]["state"] == "inactive"
