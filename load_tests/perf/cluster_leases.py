"""What leases cost on a Redis Cluster (issue 11 item 6), in one process (no HTTP).

    .venv/bin/python load_tests/perf/cluster_leases.py [--issuers 32] [--seconds 10]

Starts a local cluster of 3 masters and 3 replicas (load_tests.cluster), then two hubs on it
with 32 issuers, leases off and then on: the two hubs' idle CPU (renewals of one lease per
domain every 0.25 s, one blocking read per domain every 0.1 s), and with leases on the time
from a write to its acknowledgement (a one-command write script with its entry, then every
live lease's confirmation), 300 writes over the issuers' domains.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from gateway.compose import open_hub
from gateway.config import IssuerConfig, Settings
from gateway.core.crypto import generate_private_key
from gateway.core.model import Alg, IssuerCode
from gateway.metrics import Metrics
from gateway.store.invalidation import status_entry
from load_tests.cluster import LocalCluster

WRITES = 300


async def measure(url: str, issuers: list[IssuerCode], leases: bool, seconds: float) -> None:
    settings = Settings(
        redis_url=url,
        redis_cluster=True,
        lease_invalidation=leases,
        redis_durability="warn",
        issuers=tuple(IssuerConfig(i, i, ()) for i in issuers),
    )
    key = generate_private_key(Alg.ED25519)
    async with (
        open_hub(settings, url, key, Metrics(issuers)) as a,
        open_hub(settings, url, key, Metrics(issuers)),
    ):
        await asyncio.sleep(3)  # every lease held, every first fence over
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        share = (time.process_time() - cpu) / (time.monotonic() - wall)
        state = "on " if leases else "off"
        print(f"leases {state}: two idle hubs use {100 * share:.1f} % of a core")
        if a.announcer is None:
            return
        script = a.redis.register_script("redis.call('INCR', KEYS[1]) return 1")
        waits = []
        for n in range(WRITES):
            iss = issuers[n % len(issuers)]
            entry = status_entry(iss, [os.urandom(16)])
            started = time.perf_counter()
            await a.announcer.write(script, [f"hcgw:v1:{{{iss}}}:probe"], [], entry)
            waits.append(time.perf_counter() - started)
        waits.sort()
        p50, p99 = waits[len(waits) // 2], waits[int(len(waits) * 0.99)]
        print(
            f"a write to its acknowledgement, {WRITES} over {len(issuers)} domains: p50 "
            f"{1000 * p50:.2f} ms, p99 {1000 * p99:.2f} ms, max {1000 * waits[-1]:.2f} ms"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--issuers", type=int, default=32)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    issuers = [IssuerCode(f"{(i + 1) * 10000:06d}") for i in range(args.issuers)]
    with tempfile.TemporaryDirectory() as root, LocalCluster(Path(root)) as cluster:
        for leases in (False, True):
            asyncio.run(measure(cluster.url, issuers, leases, args.seconds))


if __name__ == "__main__":
    main()
