"""Several real gateway processes on one Redis (SPEC §4): a write acknowledged by one is in
force on the very next verification at another; nothing acknowledged is lost to kill -9."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from factory import BJ, GD, World, bearer
from gateway.store.embedded import EmbeddedRedis
from gateways import GatewayProcess
from load_tests.cluster import LocalCluster
from test_workers import post

pytestmark = pytest.mark.slow


@pytest.fixture
def world() -> World:
    return World.make()


@pytest.fixture(params=["redis", "cluster"])
def pair(
    world: World,
    tmp_path: Path,
    redis_server: EmbeddedRedis,
    redis_url: str,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two gateways on one Redis, or on the 3-master cluster (``redis_cluster = true``)."""
    extra = {}
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        cluster.flush_sync()
        redis_url, extra = cluster.url, {"redis_cluster": "true"}
    a = GatewayProcess(world, tmp_path, redis_url, "a", **extra)
    b = GatewayProcess(world, tmp_path, redis_url, "b", **extra)
    a.start()
    try:
        b.start()
        yield a, b
    finally:
        assert b.stop() == 0
        assert a.stop() == 0


async def test_writes_at_one_gateway_are_in_force_at_the_next_scan_at_another(
    world: World, pair: tuple[GatewayProcess, GatewayProcess]
) -> None:
    a, b = pair
    now = int(time.time())
    async with aiohttp.ClientSession() as s:
        for iss in (GD, BJ):
            assert (
                await post(
                    s,
                    f"{a.url}/v1/issuers/{iss}/keys",
                    world.key_add(iss, now=now, nbf=now - 60, naf=now + 3600),
                )
            )[0] == 201
        for round_ in range(5):  # each round: verify (and cache) at b, write at a, verify at b
            sub = os.urandom(16)
            raw = world.code(GD, iat=now, sub=sub, sv=1, col=0)
            assert (await post(s, f"{b.url}/v1/verify", raw, **bearer()))[1]["colour"] == "green"
            msg = world.status(GD, [[sub, 2, 2 + round_, now]], now=now)
            assert (await post(s, f"{a.url}/v1/issuers/{GD}/status", msg))[0] == 200
            assert (await post(s, f"{b.url}/v1/verify", raw, **bearer()))[1]["colour"] == "red"
        raw = world.code(BJ, iat=now)
        assert (await post(s, f"{b.url}/v1/verify", raw, **bearer()))[1]["valid"] is True
        kid = world.issuers[BJ].code_key.public.kid
        revoke = world.message(BJ, "key.revoke", kid=kid, now=now)
        assert (await post(s, f"{a.url}/v1/issuers/{BJ}/keys/revoke", revoke))[0] == 200
        assert (await post(s, f"{b.url}/v1/verify", raw, **bearer()))[1]["reason"] == "KEY_REVOKED"
        async with (
            s.get(f"{a.url}/v1/trustlist", headers=bearer("t-trust-" + "b" * 32)) as r1,
            s.get(f"{b.url}/v1/trustlist", headers=bearer("t-trust-" + "b" * 32)) as r2,
        ):
            assert r1.headers["ETag"] == r2.headers["ETag"]  # one signed copy for all workers


async def test_a_gateway_killed_with_9_loses_nothing_it_acknowledged(
    world: World, tmp_path: Path, redis_url: str
) -> None:
    gw = GatewayProcess(world, tmp_path, redis_url, "solo")
    gw.start()
    now = int(time.time())
    try:
        async with aiohttp.ClientSession() as s:
            assert (
                await post(
                    s,
                    f"{gw.url}/v1/issuers/{GD}/keys",
                    world.key_add(GD, now=now, nbf=now - 60, naf=now + 3600),
                )
            )[0] == 201
            kid = world.issuers[GD].code_key.public.kid
            revoke = world.message(GD, "key.revoke", kid=kid, now=now)
            assert (await post(s, f"{gw.url}/v1/issuers/{GD}/keys/revoke", revoke))[0] == 200
        gw.kill9()
        gw.start()
        async with aiohttp.ClientSession() as s:  # the old connections died with the process
            raw = world.code(GD, iat=now)
            assert (await post(s, f"{gw.url}/v1/verify", raw, **bearer()))[1][
                "reason"
            ] == "KEY_REVOKED"
    finally:
        gw.stop()


async def test_admin_listen_moves_metrics_to_the_operator_listener(
    world: World, tmp_path: Path, redis_url: str
) -> None:
    from gateway.launch import free_port

    admin_port = free_port()
    gw = GatewayProcess(world, tmp_path, redis_url, "ops", admin_listen=f"127.0.0.1:{admin_port}")
    gw.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{admin_port}/metrics") as r:
                assert r.status == 200 and "hcgw_redis_up" in await r.text()
            async with s.get(f"{gw.url}/metrics") as r:
                assert r.status == 404
    finally:
        assert gw.stop() == 0


def test_a_second_hub_on_the_same_data_directory_says_so_in_one_line_and_exits_2(
    world: World, tmp_path: Path
) -> None:
    first = GatewayProcess(world, tmp_path, "", "first")  # embedded server in tmp_path/var
    first.start()
    try:
        second = GatewayProcess(world, tmp_path, "", "second")
        with pytest.raises(RuntimeError, match="did not start"):
            second.start()
        assert second.process is not None and second.process.wait(timeout=15) == 2
        log = second.log.read_text()
        assert "Traceback" not in log
        assert "another hub already runs with its data in" in log.splitlines()[-1]
    finally:
        assert first.stop() == 0
