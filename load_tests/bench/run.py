"""The benchmark of record, in one run: limits, peers, the gateway, memory, targets.

Order matters on a shared machine only through noise, so every gateway figure is divided by a
limit measured minutes earlier in the same run: the empty aiohttp handler under the same wrk
settings, and the raw signature rate of the very library call the gateway makes.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from gateway.store.embedded import EmbeddedRedis
from load_tests.bench import hub, micro, profile
from load_tests.bench.targets import targets
from load_tests.corpus import Corpus, load_corpus
from load_tests.machine import facts, wait_for_quiet
from load_tests.processes import gateway, reference, running
from load_tests.wrk import run_wrk

SCENARIOS = (  # (name, batch, traffic)
    ("single code, cache hit", 0, "hit"),
    ("single code, cache miss", 0, "miss"),
    ("batch of 100, cache hit", 100, "hit"),
    ("batch of 100, cache miss", 100, "miss"),
)
FRACTIONS = (0.25, 0.50, 0.75)


@dataclass(frozen=True, slots=True)
class BenchConfig:
    seconds: float = 5.0
    connections: int = 32
    codes: int = 500_000
    corpus: Path | None = None  # an existing corpus (else one is made with provinces_sim)
    workers: tuple[int, ...] = (1, 2)
    profile: bool = True
    seed: int = 2020
    max_wait_s: float = 60.0  # before each measurement, for a quiet machine (shared hosts)


def bench(cfg: BenchConfig, log: Callable[[str], None], workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    doc: dict[str, Any] = {
        "schema": "hcgw-bench",
        "schema_version": 1,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": facts(),
        "settings": {
            "seconds": cfg.seconds,
            "connections": cfg.connections,
            "codes": cfg.codes,
            "workers": list(cfg.workers),
            "wrk_threads": 1,
            "profile": cfg.profile,
            "max_wait_s": cfg.max_wait_s,
        },
    }
    log("limits and peers: raw signature verification, PyJWT / joserfc / pycose vs our core")
    doc["micro_quiet"] = wait_for_quiet(cfg.max_wait_s)
    doc["micro"] = micro.micro(cfg.seconds / 2)
    log("the HTTP limit: the empty aiohttp handler under wrk, and the harness against it")
    doc["empty"] = empty_handler(cfg, workdir)
    corpus_dir = cfg.corpus or workdir / "corpus"
    if cfg.corpus is None:
        log(f"corpus: provinces_sim corpus --codes {cfg.codes}")
        hub.make_corpus(corpus_dir, cfg.codes, cfg.seed)
    corpus = load_corpus(corpus_dir)
    doc["corpus"] = {"path": str(corpus_dir), "codes": len(corpus.codes),
                     "valid_algs": alg_shares(corpus)}  # fmt: skip
    slices = hub.Slices(corpus)
    with EmbeddedRedis(workdir / "redis") as redis_server:
        probe = hub.RedisProbe(redis_server.url)
        doc["gateway"] = {}
        for workers in cfg.workers:
            log(f"gateway, {workers} worker(s)")
            doc["gateway"][str(workers)] = gateway_figures(
                cfg, corpus, slices, workers, redis_server.url, probe, workdir, log
            )
        probe.close()
    doc["corpus"]["codes_used"] = slices.next_index
    log("the HTTP limit again, at the end: the limit is the better of the two")
    doc["empty_end"] = empty_wrk(cfg, workdir)
    doc["empty"]["rate_start"] = doc["empty"]["rate"]
    doc["empty"]["rate"] = max(doc["empty"]["rate"], doc["empty_end"]["rate"])
    doc["targets"] = targets(doc)
    doc["elapsed_s"] = round(time.monotonic() - started, 1)
    return doc


def alg_shares(corpus: Corpus) -> dict[str, float]:
    """Shares of Ed25519 and ES256 among the valid codes (from the protected header, SPEC §2)."""
    counts: dict[str, int] = {}
    for c in corpus.codes:
        if c.expect.valid:
            protected = msgpack.unpackb(msgpack.unpackb(c.code)[0], strict_map_key=False)
            counts[protected[1]] = counts.get(protected[1], 0) + 1
    total = sum(counts.values())
    return {alg: n / total for alg, n in sorted(counts.items())}


def empty_wrk(cfg: BenchConfig, workdir: Path) -> dict[str, Any]:
    """The empty handler's rate under wrk alone (the limit, measured again at the end)."""
    quiet = wait_for_quiet(cfg.max_wait_s)
    with running(reference("empty", workdir)) as empty:
        body = [b"\x93\xc4\x00\xc4\x00\xc4\x00"]
        run_wrk(empty.url, "/v1/verify", body, "application/msgpack", token=None, seconds=1,
                connections=cfg.connections, workdir=workdir / "wrk-empty")  # fmt: skip
        wrk = run_wrk(empty.url, "/v1/verify", body, "application/msgpack", token=None,
                      seconds=cfg.seconds, connections=cfg.connections,
                      workdir=workdir / "wrk-empty")  # fmt: skip
    return {**quiet, "rate": wrk["ok_rate"], "latency_us": wrk["latency_us"]}


def empty_handler(cfg: BenchConfig, workdir: Path) -> dict[str, Any]:
    from load_tests.bodies import Target
    from load_tests.crosscheck import crosscheck
    from load_tests.runner import RunConfig
    from load_tests.selftest import write_dummy_corpus
    from load_tests.workload import RepeatModel

    dummy = write_dummy_corpus(workdir / "dummy-corpus")
    quiet = wait_for_quiet(cfg.max_wait_s)
    with running(reference("empty", workdir)) as empty:
        body = [b"\x93\xc4\x00\xc4\x00\xc4\x00"]
        run_wrk(empty.url, "/v1/verify", body, "application/msgpack", token=None, seconds=1,
                connections=cfg.connections, workdir=workdir / "wrk-empty")  # fmt: skip
        wrk = run_wrk(empty.url, "/v1/verify", body, "application/msgpack", token=None,
                      seconds=cfg.seconds, connections=cfg.connections,
                      workdir=workdir / "wrk-empty")  # fmt: skip
        check = crosscheck(
            RunConfig(
                target=Target(empty.url, None, path="/v1/verify"),
                corpus=str(dummy),
                mode="closed",
                warmup_s=1,
                duration_s=cfg.seconds,
                connections=cfg.connections,
                repeat=RepeatModel(zipf_s=0),
                check_every=0,
                drain_s=5,
            ),
            min_agreement=0.8,
        )
    return {
        **quiet,
        "rate": wrk["ok_rate"],
        "latency_us": wrk["latency_us"],
        "crosscheck": {k: check[k] for k in ("agreement", "verdict")}
        | {"wrk_rate": check["wrk"]["ok_rate"], "harness_rate": check["harness"]["ok_rate"]},
    }


def gateway_figures(
    cfg: BenchConfig,
    corpus: Corpus,
    slices: hub.Slices,
    workers: int,
    redis_url: str,
    probe: hub.RedisProbe,
    workdir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    out: dict[str, Any] = {"scenarios": {}}
    server = gateway(corpus.config, workdir / f"gateway-{workers}", workers=workers,
                     redis_url=redis_url, name=f"gateway-{workers}")  # fmt: skip
    with running(server):
        if workers == cfg.workers[0]:
            used, statuses = probe.used(), probe.count(hub.STATUS_MATCH)
            out["prime"] = hub.prime(corpus.path, server.url)
            added = probe.count(hub.STATUS_MATCH) - statuses
            out["memory_status"] = {
                "statuses": added,
                "bytes_per_status": hub.per_key(used, probe.used(), added),
                "memory_usage_sample": probe.sample_usage(hub.STATUS_MATCH),
            }
        for name, batch, traffic in SCENARIOS:
            log(f"  {name}")
            budget = round(_miss_budget(cfg, batch, workers))
            before_used, before_sig = probe.used(), probe.count(hub.SIG_MATCH)
            spy_file = workdir / f"profile-{workers}-{batch}-{traffic}.txt"
            spy: list[Any] = []

            def start_profile(spy_file: Path = spy_file, spy: list[Any] = spy) -> None:
                if cfg.profile:
                    spy.append(profile.start(server.pid, cfg.seconds, spy_file))

            figure = hub.max_rate(
                server.url,
                corpus,
                slices,
                batch=batch,
                traffic=traffic,
                seconds=cfg.seconds,
                connections=cfg.connections,
                budget=budget,
                workdir=workdir / "wrk",
                during=start_profile,
                max_wait_s=cfg.max_wait_s,
            )
            for proc in spy:
                if proc is not None:
                    proc.wait(timeout=cfg.seconds + 30)
            if traffic == "miss":
                added = probe.count(hub.SIG_MATCH) - before_sig
                figure["memory"] = {
                    "cached_outcomes": added,
                    "bytes_per_cached_outcome": hub.per_key(before_used, probe.used(), added),
                }
            figure["profile"] = profile.summarise(spy_file)
            out["scenarios"][name] = figure
        if workers == cfg.workers[0]:
            out["memory_cached_sample"] = probe.sample_usage(hub.SIG_MATCH)
            out["open_loop"] = []
            for name, traffic in (("single code, cache hit", "hit"),
                                  ("single code, cache miss", "miss")):  # fmt: skip
                top = out["scenarios"][name]["ok_rate"]
                for fraction in FRACTIONS:
                    log(f"  open loop, {name}, {fraction:.0%} of {top:,.0f}/s")
                    point = hub.open_loop(server.url, corpus, slices, rate=round(top * fraction),
                                          traffic=traffic, seconds=cfg.seconds,
                                          max_wait_s=cfg.max_wait_s)  # fmt: skip
                    out["open_loop"].append({"traffic": name, "fraction": fraction, **point})
    return out


def _miss_budget(cfg: BenchConfig, batch: int, workers: int) -> float:
    # Enough new codes that wrk does not wrap: a bound on the gateway's miss rate on this class
    # of machine (single codes ~5.5k/s, batches ~12k codes/s per worker) times the run, plus
    # 30 %. A run that still wraps says so ("wrapped") and its figure is marked.
    per_second = (5_500 if batch == 0 else 12_000) * workers
    return per_second * (cfg.seconds + 1) * 1.3


def write(doc: dict[str, Any], path: Path) -> None:
    import json

    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n")
