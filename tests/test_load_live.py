"""``--metrics-listen``: the run's own counters and latency histograms in Prometheus' format,
scraped by Debian's real ``prometheus`` next to the hub (issue 12, item 7).

Skipped, with the reason, when the binary is absent (Debian: ``apt-get install prometheus``).
Values are compared once Prometheus has scraped them (a bounded wait), never timed.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from load_corpus import MadeCorpus, primed_hub
from load_runs import run_data
from load_tests.cli import main as hcgw_load
from load_tests.live import LiveFigures, LiveServer, listen_address
from load_tests.processes import Server, free_port

PROMETHEUS = shutil.which("prometheus")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not installed (Debian package: prometheus)"
)


def fed(tmp_path: Path) -> LiveFigures:
    """Figures fed the synthetic run of ``load_runs``: 300 answers of 0.55 ms, 100/s."""
    data = run_data(tmp_path)
    figures = LiveFigures(data.config.schedule(), data.config.warmup_s, data.config.total_s)
    for second in sorted(data.seconds):
        figures.second(second, data.seconds[second])
    return figures


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_figures_are_the_runs_counts_and_histograms(tmp_path: Path) -> None:
    server = LiveServer(fed(tmp_path), "127.0.0.1", 0)
    try:
        got = samples(server.url)
    finally:
        server.close()
    assert got[("hcgw_load_planned_requests_total", ())] == 300
    assert got[("hcgw_load_sent_requests_total", ())] == 300
    assert got[("hcgw_load_answers_total", (("status", "200"),))] == 300
    assert got[("hcgw_load_latency_seconds_bucket", (("le", "0.0005"),))] == 0
    assert got[("hcgw_load_latency_seconds_bucket", (("le", "0.001"),))] == 300
    assert got[("hcgw_load_latency_seconds_count", ())] == 300
    assert got[("hcgw_load_phase", (("phase", "drain"),))] == 0
    assert got[("hcgw_load_phase", (("phase", "measured"),))] == 1


@pytest.mark.parametrize("text", ["0.0.0.0:9464", "192.0.2.1:80", "127.0.0.1"])
def test_the_listener_is_loopback_only(text: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        listen_address(text)


def prometheus(tmp_path: Path, targets: dict[str, str]) -> Server:
    """Prometheus scraping ``targets`` (job → host:port) every second, run by the harness's
    own process runner (started until it answers, stopped by its PID)."""
    assert PROMETHEUS is not None
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
        for job, target in targets.items()
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}"
    )
    port = free_port()
    argv = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    return Server(argv, port, tmp_path, "prometheus", probe="/-/ready")


def query(url: str, promql: str) -> list[dict[str, Any]]:
    q = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=5) as answer:  # noqa: S310
        doc = json.loads(answer.read())
    assert doc["status"] == "success", doc
    result: list[dict[str, Any]] = doc["data"]["result"]
    return result


def until(url: str, promql: str, want: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    deadline = time.monotonic() + 30
    result: list[Any] | None = None
    while time.monotonic() < deadline:
        try:
            result = query(url, promql)
            if want(result):
                return result
        except OSError:
            result = None  # Prometheus is still starting
        time.sleep(0.25)
    raise AssertionError((promql, result))


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], str]]:
    servers: list[Server] = []

    def start(targets: dict[str, str]) -> str:
        servers.append(prometheus(tmp_path, targets).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def value(result: list[dict[str, Any]]) -> float:
    return float(result[0]["value"][1]) if result else -1.0


@needs_prometheus
def test_prometheus_scrapes_the_figures_that_were_fed(
    tmp_path: Path, started: Callable[[dict[str, str]], str]
) -> None:
    server = LiveServer(fed(tmp_path), "127.0.0.1", 0)
    try:
        url = started({"hcgw-load": server.url.removeprefix("http://").removesuffix("/metrics")})
        until(url, "hcgw_load_sent_requests_total", lambda r: value(r) == 300)
        until(url, 'hcgw_load_answers_total{status="200"}', lambda r: value(r) == 300)
        p99 = until(url, "histogram_quantile(0.99, hcgw_load_latency_seconds_bucket)",
                    lambda r: 0.0005 < value(r) <= 0.001)  # fmt: skip
        assert p99
    finally:
        server.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, MadeCorpus]]:
    with primed_hub(tmp_path_factory.mktemp("load-live")) as made:
        yield made


@pytest.mark.slow
@needs_prometheus
def test_one_prometheus_shows_offered_and_achieved_load_beside_the_hubs(
    hub: tuple[Server, MadeCorpus], tmp_path: Path, started: Callable[[dict[str, str]], str]
) -> None:
    server, corpus = hub
    listen = f"127.0.0.1:{free_port()}"
    url = started({"hcgw": f"127.0.0.1:{server.port}", "hcgw-load": listen})
    until(url, 'up{job="hcgw"}', lambda r: value(r) == 1)  # Prometheus is scraping
    code = hcgw_load(["run", "--url", server.url, "--corpus", str(corpus.path), "--rate", "50",
                      "--duration", "4s", "--warmup", "1", "--quiet", "--metrics-listen", listen,
                      "--hit-ratio-tolerance", "100%"])  # fmt: skip
    assert code in (0, 3)  # the figures below are what is tested, not the shared machine's mood
    offered = until(url, "max_over_time(hcgw_load_planned_requests_total[5m])",
                    lambda r: value(r) > 0)  # fmt: skip
    achieved = until(url, 'max_over_time(hcgw_load_answers_total{status="200"}[5m])',
                     lambda r: value(r) > 0)  # fmt: skip
    verified = until(url, "sum(max_over_time(hcgw_verifications_total[5m]))",
                     lambda r: value(r) > 0)  # fmt: skip
    assert value(achieved) <= value(offered) + 50 and value(verified) >= value(achieved)
