"""Hot-path measurements of issue 11, in one process on a real Redis (no HTTP).

    .venv/bin/python load_tests/perf/hotpath.py gc [--codes 50000]
    .venv/bin/python load_tests/perf/hotpath.py stall [--seconds 10] [--batch 1000] [--leases]
    .venv/bin/python load_tests/perf/hotpath.py hits [--seconds 2] [--leases]

``gc``: fills the local layer through ``VerificationService.verify`` (batches of 100 new
codes), logging every automatic collection with ``gc.callbacks`` (``--freeze``: after
``gc.freeze()`` once warm, as a worker does; ``--threshold N``: generation 0 at N); then a full
``gc.collect()``'s time and the count of objects the cyclic GC tracks. ``stall``: while one task
verifies batches of new codes back to back, another verifies one cached code every 2 ms (after
what the revision's worker does once set up: ``settle_collector`` where it exists);
prints that single verification's latency (p50 / p99 / max) beside the batches' rate
(``--batch 0``: the probe alone; ``--leases``: with ``lease_invalidation``).
``hits``: cached codes of known subjects, one at a time, 64 in flight, batches of 100.
Runs on the checkout it is imported from, so ``PYTHONPATH=<other worktree>`` measures another
revision with the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack

from gateway.config import IssuerConfig, Settings
from gateway.core.crypto import generate_private_key, sign
from gateway.core.model import Alg, Domain, IssuerCode
from gateway.core.trust import KeyRecord
from gateway.core.wire import encode_envelope
from gateway.metrics import Metrics
from gateway.store.connection import redis_client
from gateway.store.embedded import EmbeddedRedis
from gateway.store.registry import NonceUse, RegistryStore

try:  # the composition root: gateway.compose since issue 14, gateway.web.hub before
    from gateway import compose as hub_module
except ImportError:  # PYTHONPATH=<an older worktree>
    from gateway.web import hub as hub_module  # type: ignore[no-redef]
build_hub = hub_module.build_hub

ISS = IssuerCode("440000")


def make_code(key: Any, now: int, i: int) -> bytes:
    claims = {1: ISS, 2: os.urandom(16), 4: now + 3600, 6: now, 7: 0, 8: 1,
              9: i.to_bytes(16, "big"), 10: "张*"}  # fmt: skip
    payload = msgpack.packb(claims, use_bin_type=True)
    return encode_envelope(
        Domain.CODE, key.public.alg, key.public.kid, payload, lambda m: sign(key, m)
    )


class Pauses:
    def __init__(self) -> None:
        self.started = 0.0
        self.by_gen: dict[int, list[float]] = {0: [], 1: [], 2: []}
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.by_gen[info["generation"]].append(time.perf_counter() - self.started)

    def close(self) -> None:
        gc.callbacks.remove(self)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run(args: argparse.Namespace) -> None:
    now = int(time.time())
    key = generate_private_key(Alg.ED25519)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        await server.start()
        redis = redis_client(server.url)
        extra: dict[str, Any] = {"lease_invalidation": args.leases}
        settings = Settings(issuers=(IssuerConfig(ISS, "Guangdong", ()),), **extra)
        hub = build_hub(settings, redis, generate_private_key(Alg.ED25519), Metrics([ISS]),
                        time.time)  # fmt: skip
        leases = None
        try:
            await RegistryStore(redis).add(
                KeyRecord(ISS, key.public, now - 60, now + 86400),
                at=now,
                floor=0,
                use=NonceUse.new(ISS, os.urandom(16), ttl=60),
            )
            service = hub.verification
            leases = getattr(hub, "leases", None)
            if leases is not None:  # lease_invalidation: hold a lease, read the stream
                background = asyncio.get_running_loop().create_task(leases.run())
                while not leases.knowledge.usable():  # noqa: ASYNC110 - a clock, not an event
                    await asyncio.sleep(0.01)
            if args.what == "hits":
                await hits(service, key, now, args.seconds)
            elif args.what == "gc":
                await fill_and_collect(
                    service, key, now, args.codes, args.freeze, args.threshold
                )
            else:
                await stall(service, key, now, args.seconds, args.batch)
        finally:
            await hub.lookups.close()
            getattr(hub.verification, "close", lambda: None)()  # its thread, where it has one
            if leases is not None:
                background.cancel()
            await redis.aclose()
            await server.stop()


async def fill_and_collect(
    service: Any, key: Any, now: int, n: int, freeze: bool, threshold: int
) -> None:
    codes = [make_code(key, now, i) for i in range(n)]
    await service.verify(codes[:100], now, None)  # warm-up: the registry, the first entries
    if freeze:  # what a worker does once it is set up (gateway.compose.settle_collector)
        gc.collect()
        gc.freeze()
    if threshold:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])
    pauses = Pauses()
    start = time.perf_counter()
    for at in range(100, n, 100):
        await service.verify(codes[at : at + 100], now, None)
    elapsed = time.perf_counter() - start
    pauses.close()
    print(f"filled {n:,} codes in {elapsed:.2f} s ({n / elapsed:,.0f} codes/s)")
    for gen, times in pauses.by_gen.items():
        if times:
            print(f"  automatic gen {gen}: {len(times):5d} collections, "
                  f"total {sum(times) * 1e3:8.1f} ms, max {max(times) * 1e3:7.2f} ms")  # fmt: skip
    tracked = len(gc.get_objects())
    full = []
    for _ in range(3):
        t = time.perf_counter()
        gc.collect()
        full.append(time.perf_counter() - t)
    print(f"tracked objects {tracked:,}; gc.collect() {min(full) * 1e3:.1f}–"
          f"{max(full) * 1e3:.1f} ms; local entries {len(service._local):,}")  # fmt: skip


async def hits(service: Any, key: Any, now: int, seconds: float) -> None:
    """Cached codes of known subjects: one at a time, 64 in flight, batches of 100."""
    single = make_code(key, now, 10**9)
    batch = [make_code(key, now, 10**9 + 1 + i) for i in range(100)]
    await service.verify([single], now, None)
    await service.verify(batch, now, None)
    for label, codes, conc in (("single, 1 in flight", [single], 1),
                               ("single, 64 in flight", [single], 64),
                               ("batch of 100, 4 in flight", batch, 4)):  # fmt: skip
        done, until = 0, time.perf_counter() + seconds

        async def worker(codes: list[bytes] = codes, until: float = until) -> None:
            nonlocal done
            while time.perf_counter() < until:
                await service.verify(codes, now, None)
                done += len(codes)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        print(f"{label:<26} {done / (time.perf_counter() - start):10,.0f} codes/s")


async def stall(service: Any, key: Any, now: int, seconds: float, batch: int) -> None:
    cached = make_code(key, now, 10**9)
    await service.verify([cached], now, None)
    settle = getattr(hub_module, "settle_collector", None)
    if settle is not None:  # as this revision's worker does once set up
        settle()
    batches = [[make_code(key, now, i * batch + j) for j in range(batch)]
               for i in range(int(seconds * 30_000 / max(1, batch)) + 2)]  # fmt: skip
    stop = time.perf_counter() + seconds
    done = 0
    latencies: list[float] = []

    async def flood() -> None:
        nonlocal done
        if batch == 0:  # the probe alone: the floor this machine gives it
            return
        for codes in batches:
            if time.perf_counter() > stop:
                return
            await service.verify(codes, now, None)
            done += len(codes)

    async def probe() -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await service.verify([cached], now, None)
            latencies.append(time.perf_counter() - t)
            await asyncio.sleep(0.002)

    lags: list[float] = []

    async def lag() -> None:  # how late the loop wakes a 1 ms sleep: what blocks it
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - t - 0.001)

    start = time.perf_counter()
    await asyncio.gather(flood(), probe(), lag())
    elapsed = time.perf_counter() - start
    print(f"batches of {batch} new codes: {done / elapsed:,.0f} codes/s; cached single code "
          f"({len(latencies)} probes): p50 {pct(latencies, 0.5) * 1e3:.2f} ms, "
          f"p99 {pct(latencies, 0.99) * 1e3:.2f} ms, "
          f"max {max(latencies) * 1e3:.2f} ms; loop lag p99 {pct(lags, 0.99) * 1e3:.2f} ms, "
          f"max {max(lags) * 1e3:.2f} ms")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("what", choices=("gc", "stall", "hits"))
    p.add_argument("--codes", type=int, default=50_000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--freeze", action="store_true", help="gc: gc.freeze() after the warm-up")
    p.add_argument("--threshold", type=int, default=0, help="gc: generation 0's threshold")
    p.add_argument("--leases", action="store_true", help="with lease_invalidation (off unless "
                   "given, so that a revision before it was the default measures the same)")
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))


if __name__ == "__main__":
    main()
