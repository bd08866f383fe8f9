"""A real scraper: Debian's ``prometheus`` scrapes the hub on loopback and PromQL over its HTTP
API gives back the counts and rates that were sent; ``promtool`` accepts our /metrics output,
the shipped scrape config (at every scrape interval the docs suggest), alert and recording rules,
and the rules' unit tests (deploy/prometheus/); every alert's runbook is a section of
docs/operations.md; every query of the Grafana dashboard (deploy/grafana/hcgw.json) returns data
from a hub under traffic.

Skipped, with the reason, when the binaries are absent (Debian: ``apt-get install prometheus``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from factory import BJ, GD, MSGPACK, NOW, bearer, pack
from gateway.launch import free_port
from hubtest import HubClient, MakeHub

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "hcgw.json"
OPERATIONS = ROOT / "docs" / "operations.md"
RUNBOOKS = "https://hcgw.example/docs/operations.md#"  # the base operators replace
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
RECORDS = {
    "job_instance:hcgw_server_errors:ratio_rate5m",
    "job_instance:hcgw_server_errors:ratio_rate1h",
    "job_instance:hcgw_verify_latency_seconds:p99_rate5m",
    "job_instance:hcgw_verify_within_50ms:ratio_rate5m",
    "job_instance:hcgw_verify_within_50ms:ratio_rate1h",
    "job_instance:hcgw_status_event_lag_seconds:p99_rate5m",
    "job_instance_code:hcgw_requests:rate5m",
    "job_instance_outcome:hcgw_verifications:rate5m",
}
INTERVALS = ("1s", "2s", "5s", "10s", "15s", "30s", "1m")  # docs: "anything from 1 s up"


def shipped_rules(name: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / name).read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def promtool(
    *args: str, stdin: bytes | None = None, cwd: Path = DEPLOY
) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


@needs_promtool
def test_the_shipped_config_and_rules_pass_promtool_and_their_unit_tests() -> None:
    for args in (
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml", "records.yml"),
        ("test", "rules", "alerts_test.yml", "records_test.yml"),
    ):
        done = promtool(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    assert {r["alert"] for r in shipped_rules("alerts.yml")} == ALERTS
    assert {r["record"] for r in shipped_rules("records.yml")} == RECORDS
    unit = (DEPLOY / "alerts_test.yml").read_text()
    assert all(f"alertname: {name}" in unit for name in ALERTS)  # each alert is exercised
    unit = (DEPLOY / "records_test.yml").read_text()
    assert all(f"expr: {name}\n" in unit for name in RECORDS)  # and each recording rule


@needs_promtool
@pytest.mark.parametrize("interval", INTERVALS)
def test_the_shipped_config_passes_promtool_at_every_scrape_interval_the_docs_suggest(
    tmp_path: Path, interval: str
) -> None:
    for name in ("alerts.yml", "records.yml"):
        shutil.copy(DEPLOY / name, tmp_path)
    shipped = (DEPLOY / "prometheus.yml").read_text()
    config, n = re.subn(r"(?m)^  scrape_interval: .*$", f"  scrape_interval: {interval}", shipped)
    assert n == 1  # the one global interval an operator edits
    (tmp_path / "prometheus.yml").write_text(config)
    done = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def slugs(markdown: str) -> set[str]:
    """The anchors GitHub (and most Markdown renderers) give the headings of a document."""
    out: set[str] = set()
    for heading in re.findall(r"(?m)^#{1,6} +(.+?) *#*$", markdown):
        base = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        slug, n = base, 0
        while slug in out:
            n += 1
            slug = f"{base}-{n}"
        out.add(slug)
    return out


def test_every_alert_has_a_runbook_url_to_a_section_of_operations_md() -> None:
    text = OPERATIONS.read_text()
    anchors = slugs(text)
    for rule in shipped_rules("alerts.yml"):
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOKS), (rule["alert"], url)
        anchor = url.removeprefix(RUNBOOKS)
        assert anchor in anchors, (rule["alert"], anchor)
        # The section says what the alert means, what to check and what to do.
        section = text.split(f"### {rule['alert']}\n", 1)[1].split("\n#", 1)[0]
        for part in ("**What it means.**", "**Check.**", "**Do.**"):
            assert part in section, (rule["alert"], part)


@needs_promtool
async def test_promtool_accepts_the_hubs_metrics_output(make_hub: MakeHub) -> None:
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
        f"rule_files:\n  - {DEPLOY / 'alerts.yml'}\n  - {DEPLOY / 'records.yml'}\n"
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


StartPrometheus = Callable[[str], Awaitable[str]]  # a scrape target -> the server's URL


@pytest.fixture
async def prometheus_for(tmp_path: Path) -> AsyncIterator[StartPrometheus]:
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


async def query(
    s: aiohttp.ClientSession, url: str, promql: str, at: float | None = None
) -> list[Any]:
    params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
    async with s.get(f"{url}/api/v1/query", params=params) as r:
        doc = await r.json()
    assert doc["status"] == "success", doc
    result: list[Any] = doc["data"]["result"]
    return result


async def until(
    s: aiohttp.ClientSession,
    url: str,
    promql: str,
    want: Callable[[list[Any]], object],
    within: float = 20.0,
) -> list[Any]:
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


async def hub_with_keys(make_hub: MakeHub) -> HubClient:
    """An in-process hub where Guangdong and Beijing have registered their code keys."""
    hub = await make_hub()
    for iss in (GD, BJ):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=hub.world.key_add(iss), headers=MSGPACK)
        assert r.status == 201
    return hub


@needs_prometheus
async def test_prometheus_scrapes_the_counts_and_rates_that_were_sent(
    make_hub: MakeHub, prometheus_for: StartPrometheus
) -> None:
    hub = await hub_with_keys(make_hub)
    w = hub.world
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
        assert set(rules) == ALERTS | RECORDS and all(x["health"] == "ok" for x in rules.values())
        assert rules["HcgwRedisDown"]["state"] == "inactive"


def dashboard_targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query of every panel, rows' panels included."""
    out = []
    for panel in dashboard["panels"]:
        for p in [panel, *panel.get("panels", [])]:
            out += [(p["title"], t["expr"]) for t in p.get("targets", [])]
    return out


def test_the_grafana_dashboard_has_its_variables_and_every_query_uses_them() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "job", "instance"}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
    targets = dashboard_targets(dashboard)
    for title, expr in targets:
        selectors = re.findall(r"\b(?:hcgw|process)_\w+\{([^}]*)\}", expr)
        names = re.findall(r"\b(?:hcgw|process)_\w+", expr)
        assert selectors and len(selectors) == len(names), (title, expr)  # every metric filtered
        assert all('job="$job", instance=~"$instance"' in sel for sel in selectors), (title, expr)
    titles = " ".join(title for title, _ in targets).lower()
    for shown in (
        "verifications/s by outcome",
        "latency",
        "error",
        "cache hit ratio",
        "redis up",
        "in flight",
        "rejections",
        "trust keys",
        "status events",
        "cpu per worker",
    ):
        assert shown in titles, shown


@needs_prometheus
async def test_every_grafana_panel_query_returns_data_from_a_hub_under_traffic(
    make_hub: MakeHub, prometheus_for: StartPrometheus
) -> None:
    hub = await hub_with_keys(make_hub)
    w = hub.world
    target = f"127.0.0.1:{hub.server.port}"
    url = await prometheus_for(target)
    auth = {**bearer(), **MSGPACK}
    async with aiohttp.ClientSession() as s:
        await until(s, url, 'up{job="hcgw"}', lambda r: r and r[0]["value"][1] == "1")
        # 8 s of mixed traffic every 100 ms: single codes (new, repeated, red, junk), a batch,
        # a request without a token (401), an unrouted path (404); a status message every 0.5 s.
        repeated = w.code(GD)
        started, tick, sent = time.time(), 0, 0
        while time.time() < started + 8.0:
            singles = [w.code(GD), w.code(BJ), repeated, w.code(GD, col=2), b"junk"]
            calls = [hub.post("/v1/verify", data=b, headers=auth) for b in singles]
            batch = pack([w.code(GD) for _ in range(5)])
            calls.append(hub.post("/v1/verify/batch", data=batch, headers=auth))
            calls.append(hub.post("/v1/verify", data=repeated, headers=MSGPACK))
            calls.append(hub.get("/no/such/path"))
            if tick % 5 == 0:
                body = w.status(GD, [[os.urandom(16), 2, 1, NOW - 20]])
                calls.append(hub.post(f"/v1/issuers/{GD}/status", data=body, headers=MSGPACK))
            answers = await asyncio.gather(*calls)
            assert sorted(a.status for a in answers)[-2:] == [401, 404]
            sent += 10
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * 0.1 - time.time()))
        ended = time.time()
        await until(  # scraped past the end of the traffic
            s, url, "sum(hcgw_verifications_total)", lambda r: r and float(r[0]["value"][1]) == sent
        )
        dashboard = json.loads(DASHBOARD.read_text())
        # As Grafana would send them: job and instance picked, the rate window four scrapes.
        job = await query(s, url, "group by (job, instance) (hcgw_build_info)")
        assert [x["metric"] for x in job] == [{"job": "hcgw", "instance": target}]
        empty = []
        for title, expr in dashboard_targets(dashboard):
            promql = (
                expr.replace("$job", "hcgw")
                .replace("$instance", target)
                .replace("$__rate_interval", "5s")
            )
            result = await query(s, url, promql, at=ended)
            if not result:
                empty.append((title, promql))
        assert not empty, empty
        # What some panels show, against what was sent.
        codes = await query(
            s, url, 'sum by (code) (rate(hcgw_requests_total{job="hcgw"}[5s]))', at=ended
        )
        rates = {x["metric"]["code"]: float(x["value"][1]) for x in codes}
        assert rates["401"] == pytest.approx(10, rel=0.3) and rates["404"] == rates["401"]
        # The recording rules: every SLI has its series, and no 5xx was answered.
        for record in sorted(RECORDS):
            await until(s, url, record, bool)
        ratio = await query(s, url, "job_instance:hcgw_server_errors:ratio_rate5m")
        assert [float(x["value"][1]) for x in ratio] == [0.0]
