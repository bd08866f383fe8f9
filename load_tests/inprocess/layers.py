"""Where a verification's time goes, layer by layer, measured in one process on a real Redis.

    hcgw-load layers [--seconds 2] [--concurrency 64]   (or python -m load_tests.inprocess.layers)

Prints the raw signature rates (the limits), then the service's rate for: a local-layer hit, a
Redis-layer hit (local layer off), and a miss (every code new), each sequentially and with
concurrent requests sharing round trips, plus batches of 100; and the mean Redis keys per round
trip. No HTTP: docs/caching.md reads these figures; load_tests' HTTP harness measures the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.compose import build_hub
from gateway.config import IssuerConfig, Settings
from gateway.core.crypto import PrivateKey, generate_private_key, sign, verify_signature
from gateway.core.model import Alg
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.core.verify import verify
from gateway.core.wire import decode_code
from gateway.metrics import Metrics
from gateway.store.connection import redis_client
from gateway.store.embedded import EmbeddedRedis
from gateway.store.registry import NonceUse, RegistryStore
from load_tests.inprocess.codes import ISS, claims, our_code


def rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            fn()
        n += 100
    return n / elapsed


async def arate(fn: Callable[[], Awaitable[int]], seconds: float, concurrency: int) -> float:
    done, stop = 0, time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            n = await fn()  # not `done += await fn()`: that reads `done` before the await
            done += n

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


def make_code(key: PrivateKey, now: int, i: int) -> bytes:
    return our_code(key, claims(now, i.to_bytes(16, "big")))


async def main(seconds: float, concurrency: int) -> None:
    now = int(time.time())
    rows: list[tuple[str, float]] = []
    for alg in Alg:
        key = generate_private_key(alg)
        msg = os.urandom(200)
        sig = sign(key, msg)
        rows.append(
            (
                f"limit: raw {alg.value} verify (cryptography)",
                rate(functools.partial(verify_signature, key.public, msg, sig), seconds),
            )
        )
    key = generate_private_key(Alg.ED25519)
    raw = make_code(key, now, 0)
    trust = TrustSnapshot.build(1, [ISS], [KeyRecord(ISS, key.public, now - 60, now + 86400)])
    rows.append(
        (
            "core: decode + all steps, Ed25519",
            rate(lambda: verify(decode_code(raw), trust, now, None), seconds),
        )
    )

    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        await server.start()
        redis = redis_client(server.url)
        try:
            settings = Settings(issuers=(IssuerConfig(ISS, "Guangdong", ()),))
            hub = build_hub(
                settings, redis, generate_private_key(Alg.ED25519), Metrics([ISS]), time.time
            )
            await RegistryStore(redis).add(
                KeyRecord(ISS, key.public, now - 60, now + 86400),
                at=now,
                floor=0,
                use=NonceUse.new(ISS, os.urandom(16), ttl=60),
            )
            service = hub.verification

            async def one(r: bytes) -> int:
                await service.verify([r], now, None)
                return 1

            await one(raw)
            for conc in (1, concurrency):
                rows.append(
                    (
                        f"service, local hit, concurrency {conc}",
                        await arate(lambda: one(raw), seconds, conc),
                    )
                )
            hub.local._capacity = 0  # the Redis layer alone
            hub.local.clear()
            for conc in (1, concurrency):
                rows.append(
                    (
                        f"service, redis hit (local off), concurrency {conc}",
                        await arate(lambda: one(raw), seconds, conc),
                    )
                )
            fresh = iter([make_code(key, now, i) for i in range(int(40_000 * seconds))])
            for conc in (1, concurrency):
                rows.append(
                    (
                        f"service, miss (every code new), concurrency {conc}",
                        await arate(lambda: one(next(fresh)), seconds, conc),
                    )
                )
            hub.local._capacity = 100_000
            batch = [make_code(key, now, i) for i in range(100)]

            async def hundred(codes: list[bytes]) -> int:
                await service.verify(codes, now, None)
                return len(codes)

            await hundred(batch)
            rows.append(
                (
                    "service, batch of 100, local hit",
                    await arate(lambda: hundred(batch), seconds, 4),
                )
            )
            batches = iter(
                [[make_code(key, now, i) for i in range(100)] for _ in range(int(300 * seconds))]
            )
            rows.append(
                (
                    "service, batch of 100, miss",
                    await arate(lambda: hundred(next(batches)), seconds, 1),
                )
            )
            lk = hub.lookups
            per_trip = lk.reads_sent / max(1, lk.pipelines_sent)
        finally:
            await hub.lookups.close()
            await redis.aclose()
            await server.stop()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10,.0f} /s")
    print(f"{'mean Redis keys per round trip':<{width}}  {per_trip:>10.1f}")


def main_sync(seconds: float, concurrency: int) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(seconds, concurrency))
    else:
        uvloop.run(main(seconds, concurrency))


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=64)
    a = p.parse_args()
    main_sync(a.seconds, a.concurrency)
