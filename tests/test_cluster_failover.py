"""Redis Cluster failover under traffic (issue 6): a master is killed; its replica takes over;
the hub answers 503 ``unavailable`` only while it cannot answer correctly, never a wrong verdict,
and every acknowledged revocation and status change is still in force afterwards (a status
change "in force" in SPEC §4's sense: held, or its mark fell back so the issuer resends it)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factory import BJ, GD, MSGPACK, NOW, bearer
from gateway.store import keys
from hubtest import MakeHub
from load_tests.cluster import LocalCluster

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path / "cluster")
    try:
        c.start()
        yield c
    finally:
        c.stop()


async def test_killing_a_master_under_traffic_gives_no_wrong_verdict(
    make_hub: MakeHub, cluster: LocalCluster
) -> None:
    hub = await make_hub(url=cluster.url, redis_cluster=True)
    w = hub.world
    for iss in (GD, BJ):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=w.key_add(iss), headers=MSGPACK)
        assert r.status == 201
    kid = w.issuers[BJ].code_key.public.kid
    r = await hub.post(
        f"/v1/issuers/{BJ}/keys/revoke", data=w.message(BJ, "key.revoke", kid=kid), headers=MSGPACK
    )
    assert r.status == 200
    sub = os.urandom(16)
    r = await hub.post(
        f"/v1/issuers/{GD}/status", data=w.status(GD, [[sub, 2, 5, NOW]]), headers=MSGPACK
    )
    assert r.status == 200
    revoked_code, red_code = w.code(BJ), w.code(GD, sub=sub, sv=1, col=0)
    plain = [w.code(GD) for _ in range(20)]

    async def scan(raw: bytes) -> tuple[int, dict[str, Any]]:
        r = await hub.post("/v1/verify", data=raw, headers={**bearer(), **MSGPACK})
        verdict: dict[str, Any] = await r.json()
        return r.status, verdict

    victim = cluster.master_of(keys.REGISTRY_KEYS)
    victim.kill9()
    killed_at = time.monotonic()
    statuses: list[int] = []
    recovered = None
    while time.monotonic() - killed_at < 30:
        results = await asyncio.gather(scan(revoked_code), scan(red_code), *map(scan, plain))
        for (status, body), expect in zip(
            results, ["KEY_REVOKED", "red", *["green"] * 20], strict=True
        ):
            statuses.append(status)
            if status == 503:
                assert body["error"] == "unavailable"
                continue
            assert status == 200
            got = body["reason"] if body["reason"] else body["colour"]
            if expect == "red" and got == "green":
                # The status write may be lost with the master (asynchronous replication);
                # then its mark must have fallen back too, so the issuer resends it.
                mark = await (await hub.get(f"/v1/issuers/{GD}/status/mark")).json()
                assert mark == {"mark": 0}
                continue
            assert got == expect, (expect, body)
        if all(s == 200 for s in statuses[-22:]):
            recovered = time.monotonic() - killed_at
            break
        await asyncio.sleep(0.05)
    assert recovered is not None, "the hub did not recover within 30 s of the failover"
    cluster.wait_ok()
    status, body = await scan(revoked_code)
    assert body["reason"] == "KEY_REVOKED"
    mark = (await (await hub.get(f"/v1/issuers/{GD}/status/mark")).json())["mark"]
    if mark == 0:  # the issuer's resend from mark + 1, as SPEC §4 has it
        r = await hub.post(
            f"/v1/issuers/{GD}/status",
            data=w.status(GD, [[sub, 2, 5, NOW]], seq=1),
            headers=MSGPACK,
        )
        assert r.status == 200
    assert (await scan(red_code))[1]["colour"] == "red"
    print(f"recovered {recovered:.1f} s after the kill; 503s: {statuses.count(503)}")
