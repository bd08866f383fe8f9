"""N workers on one port (issue 6): every SPEC §4 guarantee holds across them, a crashed worker
is replaced, and SIGTERM under load loses nothing that was acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from factory import GD, MSGPACK, World, bearer
from gateways import GatewayProcess, healthz_pid

pytestmark = pytest.mark.slow


@pytest.fixture
def world() -> World:
    return World.make()


@pytest.fixture
def hub2(world: World, tmp_path: Path, redis_url: str) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(world, tmp_path, redis_url, "pair", workers="2", data_dir=str(tmp_path))
    gw.start()
    try:
        yield gw
    finally:
        assert gw.stop() == 0


def worker_pids(url: str, tries: int = 200) -> set[int]:
    """The pids answering /healthz on fresh connections (the kernel spreads them). Connections
    that reach a worker as it dies are reset; those are skipped."""
    pids = set()
    for _ in range(tries):
        try:
            pids.add(healthz_pid(url))
        except OSError:
            continue
    return pids


async def post(
    s: aiohttp.ClientSession, url: str, body: bytes, **headers: str
) -> tuple[int, dict[str, Any]]:
    async with s.post(url, data=body, headers={**MSGPACK, **headers}) as r:
        answer: dict[str, Any] = await r.json()
        return r.status, answer


async def test_two_workers_share_the_port_and_read_each_others_writes(
    world: World, hub2: GatewayProcess
) -> None:
    assert len(worker_pids(hub2.url)) == 2
    now = int(time.time())
    conn = aiohttp.TCPConnector(force_close=True)  # a new connection, maybe a new worker, each time
    async with aiohttp.ClientSession(connector=conn) as s:
        add = world.key_add(GD, now=now, nbf=now - 60, naf=now + 3600)
        assert (await post(s, f"{hub2.url}/v1/issuers/{GD}/keys", add))[0] == 201
        for round_ in range(20):
            sub = os.urandom(16)
            raw = world.code(GD, iat=now, sub=sub, sv=1)
            assert (await post(s, f"{hub2.url}/v1/verify", raw, **bearer()))[1]["colour"] == "green"
            msg = world.status(GD, [[sub, 2, 2, now]], now=now)
            assert (await post(s, f"{hub2.url}/v1/issuers/{GD}/status", msg))[0] == 200
            verdict = (await post(s, f"{hub2.url}/v1/verify", raw, **bearer()))[1]
            assert verdict["colour"] == "red", round_
        kid = world.issuers[GD].code_key.public.kid
        raw = world.code(GD, iat=now)
        revoke = world.message(GD, "key.revoke", kid=kid, now=now)
        assert (await post(s, f"{hub2.url}/v1/issuers/{GD}/keys/revoke", revoke))[0] == 200
        for _ in range(20):
            assert (await post(s, f"{hub2.url}/v1/verify", raw, **bearer()))[1][
                "reason"
            ] == "KEY_REVOKED"


async def test_a_killed_worker_is_replaced(hub2: GatewayProcess) -> None:
    before = worker_pids(hub2.url)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:
        now_serving = worker_pids(hub2.url, tries=50)
        if len(now_serving) == 2 and victim not in now_serving:
            break
        assert time.monotonic() < deadline, now_serving
        await asyncio.sleep(0.2)


async def test_sigterm_under_load_loses_no_acknowledged_write(
    world: World, tmp_path: Path, redis_url: str
) -> None:
    gw = GatewayProcess(world, tmp_path, redis_url, "term", workers="2", data_dir=str(tmp_path))
    gw.start()
    process = gw.process
    assert process is not None
    now = int(time.time())
    acked = 0
    stop_sent = False

    async def push() -> None:
        nonlocal acked, stop_sent
        conn = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=conn) as s:
            for seq in range(1, 10_000):
                msg = world.status(GD, [[os.urandom(16), 1, 1, now]], seq=seq, now=now)
                try:
                    status, body = await post(s, f"{gw.url}/v1/issuers/{GD}/status", msg)
                except aiohttp.ClientError:
                    assert stop_sent  # only once the hub is going away
                    return
                assert status == 200, body
                acked = seq
                if seq == 50:
                    stop_sent = True
                    process.send_signal(signal.SIGTERM)

    await push()
    assert await asyncio.to_thread(process.wait, 60) == 0
    gw2 = GatewayProcess(world, tmp_path, redis_url, "after")
    gw2.start()
    try:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{gw2.url}/v1/issuers/{GD}/status/mark") as r,
        ):
            assert (await r.json())["mark"] >= acked >= 50
    finally:
        gw2.stop()


async def test_the_gunicorn_deployment_the_bench_compares_serves_the_same_hub(
    world: World, tmp_path: Path, redis_url: str
) -> None:
    from factory import config_toml
    from load_tests.processes import gunicorn, running

    config = tmp_path / "hcgw.toml"
    config.write_text(
        config_toml(world, listen="127.0.0.1:1", redis_url=redis_url,
                    trust_key=str(tmp_path / "hub-trust-key.pem"))
    )  # fmt: skip
    now = int(time.time())
    with running(gunicorn(config, tmp_path / "gunicorn", workers=2, redis_url=redis_url,
                          name="gunicorn")) as server:  # fmt: skip
        pids = worker_pids(server.url, tries=100)
        async with aiohttp.ClientSession() as s:
            add = world.key_add(GD, now=now, nbf=now - 60, naf=now + 3600)
            assert (await post(s, f"{server.url}/v1/issuers/{GD}/keys", add))[0] == 201
            raw = world.code(GD, iat=now)
            status, verdict = await post(s, f"{server.url}/v1/verify", raw, **bearer())
            assert status == 200 and verdict["valid"] is True
    assert len(pids) == 2  # two gunicorn workers answered
