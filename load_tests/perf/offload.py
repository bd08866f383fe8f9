"""Item 7's choice: slices that yield, or signature checks in a thread, for a batch's checks.

    .venv/bin/python load_tests/perf/offload.py [--seconds 5] [--codes 1000]

One task checks batches of ``codes`` Ed25519 / ES256 signatures (half each) back to back, either
on the loop in slices of 1 ms that yield (``asyncio.sleep(0)``), or in chunks of 50 handed to
one worker thread (libsodium and OpenSSL release the GIL inside the call); another task measures
the loop's lag (a 1 ms sleep, how late it wakes). Prints checks/s and the lag's p50 / p99 / max.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gateway.core.crypto import generate_private_key, sign, verify_signature
from gateway.core.model import Alg


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(mode: str, seconds: float, checks: list[Any]) -> None:
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(1)
    stop = time.perf_counter() + seconds
    done, lags = 0, []

    def chunk(part: list[Any]) -> int:
        return sum(verify_signature(*c) for c in part)

    async def batches() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            if mode == "slices":
                until = time.perf_counter() + 0.001
                for c in checks:
                    verify_signature(*c)
                    if time.perf_counter() > until:
                        await asyncio.sleep(0)
                        until = time.perf_counter() + 0.001
            elif mode == "thread":
                for at in range(0, len(checks), 50):
                    await loop.run_in_executor(pool, chunk, checks[at : at + 50])
            else:  # whole: the batch holds the loop throughout
                chunk(checks)
                await asyncio.sleep(0)
            done += len(checks)

    async def probe() -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - t - 0.001)

    start = time.perf_counter()
    await asyncio.gather(batches(), probe())
    rate = done / (time.perf_counter() - start)
    pool.shutdown()
    print(f"{mode:<7} {rate:8,.0f} checks/s; loop lag p50 {pct(lags, 0.5) * 1e3:6.2f} ms, "
          f"p99 {pct(lags, 0.99) * 1e3:6.2f} ms, max {max(lags) * 1e3:6.2f} ms")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--codes", type=int, default=1000)
    args = p.parse_args()
    checks = []
    for alg in (Alg.ED25519, Alg.ES256):
        key = generate_private_key(alg)
        for _ in range(args.codes // 2):
            message = os.urandom(200)
            checks.append((key.public, message, sign(key, message)))
    for mode in ("whole", "slices", "thread", "slices", "thread"):
        asyncio.run(measure(mode, args.seconds, checks))


if __name__ == "__main__":
    main()
