"""The gateway's figures: maximum rates (wrk), open-loop latency (the harness), Redis memory.

Traffic comes from a simulator corpus (``provinces_sim corpus``), read in its documented format.
- *hit*: 100 valid codes drawn again and again (after the first pass every code is cached);
- *miss*: every code new to the hub, from a slice of the corpus no earlier run has touched.
Maximum rates are wrk's (a C closed loop: the Python harness would be the bottleneck here, see
the cross-check); open-loop latency is the harness's, at fractions of the measured maximum.
Redis memory is ``INFO memory`` before and after a measured insertion, divided by the keys added.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import msgpack
import redis

from gateway.store import keys
from load_tests import report as reports
from load_tests.bench.document import OpenLoopRun
from load_tests.bench.neighbours import Others
from load_tests.bodies import Target, body_for
from load_tests.corpus import Corpus
from load_tests.machine import Busy, Quiet, wait_for_quiet
from load_tests.runner import RunConfig, run
from load_tests.schedule import Step
from load_tests.workload import RepeatModel
from load_tests.wrk import WrkErrors, WrkLatency, run_wrk

HIT_POPULATION = 100
SCENARIOS = (  # (name, codes per request (0: one code, bare), traffic)
    ("single code, cache hit", 0, "hit"),
    ("single code, cache miss", 0, "miss"),
    ("batch of 100, cache hit", 100, "hit"),
    ("batch of 100, cache miss", 100, "miss"),
)


@dataclass
class Slices:
    """Hands out disjoint slices of the corpus' valid codes, so every miss run is a miss."""

    corpus: Corpus
    next_index: int = 0
    valid: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.valid = [i for i, c in enumerate(self.corpus.codes) if c.expect.valid]
        # Keep the first codes for the hit population: slices start after them.
        self.next_index = HIT_POPULATION

    def take(self, n: int) -> list[int]:
        out = self.valid[self.next_index : self.next_index + n]
        self.next_index += len(out)
        return out

    def give_back(self, n: int) -> None:
        """The last ``n`` codes of the latest slice were never sent: the next slice has them."""
        self.next_index -= max(0, n)

    @property
    def left(self) -> int:
        return len(self.valid) - self.next_index


def bodies(corpus: Corpus, target: Target, draws: list[int]) -> tuple[str, list[bytes]]:
    per = target.codes_per_request
    out, ctype = [], "application/msgpack"
    for n in range(len(draws) // per):
        ctype, body = body_for(
            target, [corpus.codes[d].code for d in draws[n * per : (n + 1) * per]]
        )
        out.append(body)
    return ctype, out


def hit_draws(corpus: Corpus, slices: Slices, n: int) -> list[int]:
    population = slices.valid[:HIT_POPULATION]
    return [population[i % len(population)] for i in range(n)]


class MaxRate(TypedDict):
    """One wrk run of a scenario: what a round's ``Sample`` is made of."""

    started: float  # CLOCK_MONOTONIC around wrk alone
    ended: float
    others_during: float
    rate: float
    ok_rate: float
    codes_rate: float
    latency_us: WrkLatency
    errors: WrkErrors
    codes_sent: int
    distinct_codes: int
    wrapped: bool  # a miss run that ran out of its slice and sent repeats
    system_busy: float  # machine.Busyness
    loadavg_before: float
    busy_before: float  # machine.Quiet
    waited_s: float


class Around(TypedDict):
    """Where a ``max_rate`` run lies (seconds from the run's ``zero``) and what else the machine
    did around it: the fields every round's sample takes from it alike."""

    start: float
    end: float
    busy_before: float
    busy_during: float
    others_during: float
    waited_s: float


def around(fig: MaxRate, zero: float) -> Around:
    return {"start": round(fig["started"] - zero, 3), "end": round(fig["ended"] - zero, 3),
            "busy_before": float(fig["busy_before"]), "busy_during": float(fig["system_busy"]),
            "others_during": float(fig["others_during"]),
            "waited_s": float(fig["waited_s"])}  # fmt: skip


def max_rate(
    url: str,
    corpus: Corpus,
    slices: Slices,
    *,
    batch: int,
    traffic: str,
    seconds: float,
    connections: int,
    budget: int,
    workdir: Path,
    during: Callable[[], None] | None = None,
    max_wait_s: float | None = 0.0,
) -> MaxRate:
    """wrk's closed-loop maximum for one scenario; ``budget`` codes for a miss run. A hit run
    finds the hub's caches as earlier runs left them: the bench warms them once, before its
    rounds (``started`` and ``ended``: CLOCK_MONOTONIC around wrk alone)."""
    target = Target(url, corpus.token, batch, "msgpack")
    per = target.codes_per_request
    if traffic == "hit":
        draws = hit_draws(corpus, slices, max(per, HIT_POPULATION))
    else:
        draws = slices.take(budget)
        if not draws:
            raise RuntimeError("the corpus has no new codes left for a miss run: --codes more")
    ctype, request_bodies = bodies(corpus, target, draws)
    unseen: Quiet = {"busy_before": 0.0, "waited_s": 0.0}
    quiet = unseen if max_wait_s is None else wait_for_quiet(max_wait_s)
    if during is not None:
        during()
    busy, others = Busy(), Others()
    started = time.monotonic()
    out = run_wrk(url, target.request_path, request_bodies, ctype, token=corpus.token,
                  seconds=seconds, connections=connections, workdir=workdir)  # fmt: skip
    ended = time.monotonic()
    others_during = others.share()
    sent_codes = out["requests"] * per
    if traffic == "miss":  # one wrk thread sends the bodies in order; some were in flight
        slices.give_back(len(draws) - min(len(draws), (out["requests"] + connections) * per))
    return {
        "started": started,
        "ended": ended,
        "others_during": others_during,
        "rate": out["rate"],
        "ok_rate": out["ok_rate"],
        "codes_rate": out["ok_rate"] * per,
        "latency_us": out["latency_us"],
        "errors": out["errors"],
        "codes_sent": sent_codes,
        "distinct_codes": len(set(draws)),
        # A miss run that wrapped around its slice sent repeats: its figure would flatter.
        "wrapped": traffic == "miss" and sent_codes > len(draws),
        **busy.done(),
        **quiet,
    }


def open_loop(
    url: str,
    corpus: Corpus,
    slices: Slices,
    *,
    rate: float,
    traffic: str,
    seconds: float,
    workdir: Path,
    procs: int = 1,
    max_wait_s: float = 0.0,
) -> OpenLoopRun:
    """The harness at a constant rate, from a corpus of just the codes it sends (``workdir``):
    the harness reads its corpus in each of its processes, and reading 800k codes took 3 s."""
    target = Target(url, corpus.token, 0, "msgpack")
    warmup = 1
    needed = round(rate * (seconds + warmup)) + 1
    if traffic == "hit":
        chosen = slices.valid[:HIT_POPULATION]
        repeat = RepeatModel(zipf_s=0, population=len(chosen), invalid_share=0.0)
    else:
        chosen = slices.take(needed)
        if len(chosen) < needed:
            raise RuntimeError(f"the corpus has {len(chosen):,} new codes left for an open-loop "
                               f"miss at {rate:,.0f}/s, not {needed:,}: --codes more")  # fmt: skip
        repeat = RepeatModel(fresh=True, population=len(chosen), invalid_share=0.0)
    cfg = RunConfig(
        target=target,
        corpus=str(sub_corpus(corpus, chosen, workdir)),
        steps=(Step(rate, seconds),),
        warmup_s=warmup,
        duration_s=seconds,
        procs=procs,
        connections=64,
        repeat=repeat,
        check_every=50,
        metrics_url=url + "/metrics",
    )
    quiet = wait_for_quiet(max_wait_s)
    busy, others = Busy(), Others()
    doc = reports.build(run(cfg))
    others_during = others.share()
    m = doc["phases"]["measured"]
    return {
        "target_rate": rate,
        "achieved": m["ok_rate"],
        "latency_us": {
            k: m["histograms"]["latency"][k] for k in ("p50", "p90", "p99", "p99_9", "max")
        },
        "latency_hist": m["histograms"]["latency"]["histoblob"],
        "service_us": {k: m["histograms"]["service"][k] for k in ("p50", "p99", "max")},
        "lateness_p99_us": m["histograms"]["lateness"]["p99"],
        "verdict": doc["verdict"]["status"],
        "failed_checks": [c["name"] for c in doc["verdict"]["checks"] if not c["ok"]],
        "hit_ratio": {
            "expected": doc["cache"]["expected"]["measured"],
            "observed": obs["measured"] if (obs := doc["cache"]["observed"]) else None,
        },
        "errors": m["error_rate"],
        "others_during": others_during,
        **busy.done(),
        **quiet,
    }


def sub_corpus(corpus: Corpus, indices: list[int], out: Path) -> Path:
    """A corpus (the documented format: its manifest, ``codes.msgpack``) of ``corpus``' codes
    at ``indices``, in that order."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(corpus.path / "manifest.json", out / "manifest.json")
    with open(out / "codes.msgpack", "wb") as f:
        for i in indices:
            c = corpus.codes[i]
            expect = {"valid": c.expect.valid, "reason": c.expect.reason,
                      "colour": c.expect.colour}  # fmt: skip
            f.write(msgpack.packb({"code": c.code, "iss": c.iss, "expect": expect},
                                  use_bin_type=True))  # fmt: skip
    return out


class RedisProbe:
    """``INFO memory``, key counts and ``MEMORY USAGE`` of the hub's Redis."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def used(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def count(self, match: bytes) -> int:
        return sum(1 for _ in self.client.scan_iter(match=match, count=10_000))

    def sample_usage(self, match: bytes, n: int = 200) -> float | None:
        sizes = []
        for key in self.client.scan_iter(match=match, count=10_000):
            sizes.append(int(self.client.memory_usage(key, samples=0) or 0))
            if len(sizes) >= n:
                break
        return sum(sizes) / len(sizes) if sizes else None

    def close(self) -> None:
        self.client.close()


SIG_MATCH = keys.SIGNATURE_OUTCOME_MATCH
STATUS_MATCH = b"hcgw:v1:{*}:st:*"


def per_key(before: int, after: int, added: int) -> float | None:
    return (after - before) / added if added > 0 else None


def make_corpus(out: Path, codes: int, seed: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "provinces_sim",
            "corpus",
            "--out",
            str(out),
            "--codes",
            str(codes),
            "--seed",
            str(seed),
            "--lifetime",
            "43200",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )


def prime(corpus: Path, hub: str) -> str:
    """``provinces_sim prime`` against ``hub``: its output, or a RuntimeError that quotes
    what it said when it failed (its own message, not just its exit status)."""
    done = subprocess.run(
        [sys.executable, "-m", "provinces_sim", "prime", "--corpus", str(corpus), "--hub", hub],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise RuntimeError(f"priming {hub} failed (exit status {done.returncode}): {said}")
    return done.stdout.strip()


def tmpdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="hcgw-bench-")
