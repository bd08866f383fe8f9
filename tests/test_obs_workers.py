"""Metrics of a real ``hcgw serve``, with one worker and with two: /metrics on any worker totals
what every worker counted, and so does the dashboard's JSON, recent management writes included;
process metrics come once per live worker, labelled with its pid.

With two workers the supervisor sets PROMETHEUS_MULTIPROC_DIR; each worker writes its own files
there, which this test also reads one by one to show that both workers did part of the work.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from factory import GD, MSGPACK, World, bearer
from gateways import GatewayProcess
from test_obs_metrics import parse, value
from test_workers import worker_pids

pytestmark = pytest.mark.slow

CODES = 300


@pytest.fixture(params=[1, 2], ids=["1 worker", "2 workers"])
def gateway(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str
) -> Iterator[tuple[GatewayProcess, World, int]]:
    world = World.make()
    workers = request.param
    gw = GatewayProcess(
        world, tmp_path, redis_url, "obs", workers=str(workers), data_dir=str(tmp_path)
    )
    gw.start()
    try:
        yield gw, world, workers
    finally:
        assert gw.stop() == 0


def per_worker_counts(metrics_dir: Path, name: str) -> dict[str, float]:
    """One worker's files at a time: {file: sum of ``name`` samples}."""
    out = {}
    for path in sorted(metrics_dir.glob("counter_*.db")):
        families = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
        out[path.name] = sum(s.value for f in families for s in f.samples if s.name == name)
    return out


async def test_metrics_on_any_worker_total_every_workers_counts(
    gateway: tuple[GatewayProcess, World, int], tmp_path: Path
) -> None:
    gw, world, workers = gateway
    now = int(time.time())
    # A new connection per request: the kernel spreads them over the workers.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:

        async def post(path: str, body: bytes, **headers: str) -> int:
            async with s.post(gw.url + path, data=body, headers={**MSGPACK, **headers}) as r:
                await r.read()
                return r.status

        add = world.key_add(GD, now=now, nbf=now - 60, naf=now + 3600)
        assert await post(f"/v1/issuers/{GD}/keys", add) == 201
        for i in range(3):
            status = world.status(GD, [[os.urandom(16), 2, 1, now - 5]], now=now)
            assert await post(f"/v1/issuers/{GD}/status", status) == 200, i
        codes = [world.code(GD, iat=now) for _ in range(CODES // 2)]
        answers = await asyncio.gather(
            *(post("/v1/verify", c, **bearer()) for c in codes + codes)  # each twice
        )
        assert answers == [200] * CODES
        await asyncio.sleep(1.2)  # every worker has published its own gauges since
        entries = set()
        for _ in range(6 * workers):
            async with s.get(gw.url + "/metrics") as r:
                entries.add(value(parse(await r.text()), "hcgw_local_cache_entries"))

        scrapes = []
        for _ in range(6 * workers):  # several scrapes, so that every worker answers some
            async with s.get(gw.url + "/metrics") as r:
                scrapes.append(parse(await r.text()))
        datas = []
        for _ in range(4 * workers):
            async with s.get(gw.url + "/dashboard/data") as r:
                datas.append(await r.json())

    for m in scrapes:
        v = "hcgw_verifications_total"
        assert value(m, v, iss=GD, outcome="green") == CODES
        assert value(m, "hcgw_request_duration_seconds_count", route="/v1/verify") == CODES
        assert value(m, "hcgw_client_codes_total", client="terminal") == CODES
        assert value(m, "hcgw_status_events_total", iss=GD) == 3
        assert value(m, "hcgw_status_event_lag_seconds_count") == 3
        local = sum(value(m, "hcgw_cache_total", layer="local", outcome=o) for o in ("hit", "miss"))
        assert local == CODES
        assert value(m, "hcgw_trust_keys", iss=GD, state="active") == 1
        assert value(m, "hcgw_trust_list_version") == 2
        assert value(m, "hcgw_redis_up") == 1
    # Per-process gauges, summed over live workers (each publishes its own once a second): the
    # same sum whichever worker answers.
    assert len(entries) == 1 and entries.pop() >= CODES // 2
    assert all(("hcgw_inflight_requests", ()) in m for m in scrapes)
    for d in datas:
        assert d["verifications"]["by_colour"]["green"]["total"] == CODES
        assert [e["action"] for e in d["events"]] == ["status"] * 3 + ["key.add"]
    # Process metrics are per worker, not totals: one series of each per live worker, by pid.
    pids = {str(d["pid"]) for d in datas}
    for m in scrapes:
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
            per_pid = {dict(labels)["pid"]: x for (n, labels), x in m.items() if n == name}
            assert set(per_pid) == pids and all(x > 0 for x in per_pid.values()), (name, per_pid)
        builds = [x for (n, _), x in m.items() if n == "hcgw_build_info"]
        assert builds == [1.0]
    if workers == 2:
        assert len(pids) == 2  # both workers answered the dashboard
        counts = per_worker_counts(tmp_path / "run" / "metrics", "hcgw_verifications_total")
        assert len(counts) == 2 and all(n > 0 for n in counts.values()), counts
        assert sum(counts.values()) == CODES


def scraped_pids(url: str) -> set[int]:
    """The pids /metrics gives process metrics for (whichever worker answers)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:  # noqa: S310 - loopback
        m = parse(r.read().decode())
    return {int(dict(labels)["pid"]) for n, labels in m if n == "process_cpu_seconds_total"}


async def test_process_metrics_follow_the_live_workers_when_one_is_replaced(
    tmp_path: Path, redis_url: str
) -> None:
    gw = GatewayProcess(
        World.make(), tmp_path, redis_url, "procs", workers="2", data_dir=str(tmp_path)
    )
    gw.start()
    try:
        before = await asyncio.to_thread(worker_pids, gw.url)
        assert len(before) == 2
        for _ in range(6):  # on fresh connections: both workers answer some
            assert await asyncio.to_thread(scraped_pids, gw.url) == before
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while True:
            after = await asyncio.to_thread(worker_pids, gw.url, 50)
            if len(after) == 2 and victim not in after:
                break
            assert time.monotonic() < deadline, after
            await asyncio.sleep(0.2)
        for _ in range(6):  # the dead worker's series are gone, its successor's are there
            assert await asyncio.to_thread(scraped_pids, gw.url) == after
    finally:
        assert gw.stop() == 0
