"""A short load burst at the end of the demo: concurrent batch scans for a few seconds.

Not a benchmark (load_tests/ is): the simulator and the hub share the machine, and the codes
are the residents' current ones. Request bodies are built once, before the clock starts, and
every verdict is still checked against the oracle, which the hub's state cannot change under:
nothing is pushed while the burst runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from provinces_sim.codes import IssuedCode
from provinces_sim.errors import HubRefused, HubUnreachable
from provinces_sim.hub import HubApi
from provinces_sim.keystore import Client
from provinces_sim.oracle import HubModel, Verdict, differences, expect
from provinces_sim.wire import pack


@dataclass(frozen=True, slots=True)
class BurstResult:
    seconds: float
    concurrency: int
    batch: int
    pool: int  # distinct codes, cycled
    requests: int
    codes: int
    codes_per_second: float
    p50_ms: float
    p99_ms: float
    mismatches: int
    errors: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def burst(
    hub: HubApi,
    client: Client,
    codes: Sequence[IssuedCode],
    model: HubModel,
    clock: Callable[[], float],
    *,
    seconds: float,
    concurrency: int = 6,
    batch: int = 500,
) -> BurstResult:
    now = int(clock())
    bodies: list[tuple[bytes, list[Verdict]]] = []
    for start in range(0, len(codes), batch):
        chunk = codes[start : start + batch]
        bodies.append((pack([c.envelope for c in chunk]), [expect(c, model, now) for c in chunk]))
    latencies: list[float] = []
    counts = {"codes": 0, "mismatches": 0, "errors": 0}
    next_body = 0
    began = time.monotonic()
    deadline = began + seconds

    async def worker() -> None:
        nonlocal next_body
        while time.monotonic() < deadline:
            body, expected = bodies[next_body % len(bodies)]
            next_body += 1
            sent = time.monotonic()
            try:
                verdicts = await hub.verify_batch_body(client, body)
            except (HubRefused, HubUnreachable):
                counts["errors"] += 1
                continue
            latencies.append(time.monotonic() - sent)
            counts["codes"] += len(verdicts)
            if len(verdicts) != len(expected):
                counts["mismatches"] += len(expected)
                continue
            counts["mismatches"] += sum(
                1 for want, got in zip(expected, verdicts, strict=True) if differences(want, got)
            )

    if bodies:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - began
    latencies.sort()

    def percentile(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0
        )

    return BurstResult(
        seconds=round(elapsed, 2),
        concurrency=concurrency,
        batch=batch,
        pool=len(codes),
        requests=len(latencies),
        codes=counts["codes"],
        codes_per_second=round(counts["codes"] / elapsed, 1) if elapsed else 0.0,
        p50_ms=round(percentile(0.50), 1),
        p99_ms=round(percentile(0.99), 1),
        mismatches=counts["mismatches"],
        errors=counts["errors"],
    )
