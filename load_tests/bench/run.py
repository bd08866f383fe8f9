"""The benchmark of record, in one run: limits, peers, the gateway, memory, targets.

The gateway is measured in several deployments (``plan``): 1 and 2 workers on one Redis, the
most workers again under gunicorn instead of our SO_REUSEPORT supervisor, and every worker count
on a local Redis Cluster (3 masters, 3 replicas, ``load_tests.cluster``).

Order matters on a shared machine only through noise, so every gateway figure is divided by a
limit measured minutes earlier in the same run: the empty aiohttp handler under the same wrk
settings, and the raw signature rate of the very library call the gateway makes.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from gateway.store.embedded import EmbeddedRedis
from load_tests.bench import hub, micro, profile
from load_tests.bench.targets import targets
from load_tests.cluster import LocalCluster
from load_tests.corpus import Corpus, load_corpus
from load_tests.machine import facts, wait_for_quiet
from load_tests.processes import gateway, gunicorn, reference, running
from load_tests.wrk import run_wrk

FRACTIONS = (0.25, 0.50, 0.75)


@dataclass(frozen=True, slots=True)
class BenchConfig:
    seconds: float = 5.0
    connections: int = 32
    codes: int = 500_000
    corpus: Path | None = None  # an existing corpus (else one is made with provinces_sim)
    workers: tuple[int, ...] = (1, 2)
    gunicorn: bool = True  # the most workers again under gunicorn (aiohttp's worker)
    cluster: bool = True  # every worker count again on a Redis Cluster (3 masters + 3 replicas)
    profile: bool = True
    seed: int = 2020
    max_wait_s: float = 60.0  # before each measurement, for a quiet machine (shared hosts)


@dataclass(frozen=True, slots=True)
class Deployment:
    """One way of running the hub: how many workers, under which server, on which Redis."""

    workers: int
    server: str = "hcgw"  # hcgw serve --workers N (SO_REUSEPORT) | gunicorn (a shared socket)
    store: str = "redis"  # one embedded redis-server | a local Redis Cluster

    @property
    def key(self) -> str:
        """``"1"``, ``"2"``, ``"2-gunicorn"``, ``"1-cluster"``: the JSON's key for its figures."""
        extra = [x for x in (self.server, self.store) if x not in ("hcgw", "redis")]
        return "-".join([str(self.workers), *extra])

    @property
    def label(self) -> str:
        text = f"{self.workers} worker{'s' if self.workers > 1 else ''}"
        if self.server == "gunicorn":
            text += " (gunicorn)"
        if self.store == "cluster":
            text += ", Redis Cluster"
        return text


def plan(cfg: BenchConfig) -> list[list[Deployment]]:
    """The deployments, grouped by the Redis they share. Each group starts on an empty Redis, so
    its miss runs may use the corpus again from the start: no code has been seen by that hub."""
    groups = [[Deployment(w) for w in cfg.workers]]
    if cfg.gunicorn and max(cfg.workers) > 1:
        groups.append([Deployment(max(cfg.workers), server="gunicorn")])
    if cfg.cluster:
        groups.append([Deployment(w, store="cluster") for w in cfg.workers])
    return groups


def bench(cfg: BenchConfig, log: Callable[[str], None], workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    doc: dict[str, Any] = {
        "schema": "hcgw-bench",
        "schema_version": 2,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": facts(),
        "settings": {
            "seconds": cfg.seconds,
            "connections": cfg.connections,
            "codes": cfg.codes,
            "workers": list(cfg.workers),
            "gunicorn": cfg.gunicorn,
            "cluster": cfg.cluster,
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
                     "valid_algs": alg_shares(corpus), "codes_used": 0}  # fmt: skip
    doc["gateway"] = {}
    for n, group in enumerate(plan(cfg)):
        store = group[0].store
        slices = hub.Slices(corpus)
        with redis_store(store, workdir / f"{store}-{n}") as url:
            probe = hub.RedisProbe(url) if n == 0 else None  # memory: on the first Redis only
            for deployment in group:
                log(f"gateway, {deployment.label}")
                figures = gateway_figures(
                    cfg, corpus, slices, deployment, url, probe, workdir, log,
                    fresh=deployment is group[0], first=deployment is group[0] and n == 0,
                )  # fmt: skip
                doc["gateway"][deployment.key] = {
                    "label": deployment.label,
                    "workers": deployment.workers,
                    "server": deployment.server,
                    "store": deployment.store,
                    **figures,
                }
            if probe is not None:
                probe.close()
        doc["corpus"]["codes_used"] = max(doc["corpus"]["codes_used"], slices.next_index)
    log("the HTTP limit again, at the end: the limit is the better of the two")
    doc["empty_end"] = empty_wrk(cfg, workdir)
    doc["empty"]["rate_start"] = doc["empty"]["rate"]
    doc["empty"]["rate"] = max(doc["empty"]["rate"], doc["empty_end"]["rate"])
    doc["targets"] = targets(doc)
    doc["elapsed_s"] = round(time.monotonic() - started, 1)
    return doc


@contextmanager
def redis_store(store: str, root: Path) -> Iterator[str]:
    """An empty Redis for a group of deployments: one embedded server, or a local cluster."""
    if store == "cluster":
        with LocalCluster(root) as cluster:
            yield cluster.url
    else:
        with EmbeddedRedis(root) as server:
            yield server.url


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
        wrk = _wrk_on_empty(cfg, empty.url, workdir)
    return {**quiet, "rate": wrk["ok_rate"], "latency_us": wrk["latency_us"]}


def empty_handler(cfg: BenchConfig, workdir: Path) -> dict[str, Any]:
    """The empty handler under wrk (the limit), and this harness against wrk on it."""
    from load_tests.bodies import Target
    from load_tests.crosscheck import crosscheck
    from load_tests.runner import RunConfig
    from load_tests.selftest import write_dummy_corpus
    from load_tests.workload import RepeatModel

    dummy = write_dummy_corpus(workdir / "dummy-corpus")
    quiet = wait_for_quiet(cfg.max_wait_s)
    with running(reference("empty", workdir)) as empty:
        wrk = _wrk_on_empty(cfg, empty.url, workdir)
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


def _wrk_on_empty(cfg: BenchConfig, url: str, workdir: Path) -> dict[str, Any]:
    """One second of warm-up, then the measured run, of the empty-envelope POST."""
    body = [b"\x93\xc4\x00\xc4\x00\xc4\x00"]
    for seconds in (1, cfg.seconds):
        wrk = run_wrk(url, "/v1/verify", body, "application/msgpack", token=None,
                      seconds=seconds, connections=cfg.connections,
                      workdir=workdir / "wrk-empty")  # fmt: skip
    return wrk


def gateway_figures(
    cfg: BenchConfig,
    corpus: Corpus,
    slices: hub.Slices,
    deployment: Deployment,
    redis_url: str,
    probe: hub.RedisProbe | None,
    workdir: Path,
    log: Callable[[str], None],
    *,
    fresh: bool,
    first: bool,
) -> dict[str, Any]:
    """The four scenarios' maximum rates on one deployment; on a ``fresh`` Redis, the corpus'
    statuses are pushed first. Only the ``first`` deployment (1 worker, one Redis) is profiled
    and gets the open-loop points: py-spy's sampling takes CPU, and on two cores that CPU would
    come out of the other deployments' figures (it cost 2 workers a fifth of their rate)."""
    out: dict[str, Any] = {"scenarios": {}}
    workers, name = deployment.workers, f"gateway-{deployment.key}"
    if deployment.server == "gunicorn":
        server = gunicorn(corpus.config, workdir / name, workers=workers, redis_url=redis_url,
                          name=name)  # fmt: skip
    else:
        server = gateway(corpus.config, workdir / name, workers=workers, redis_url=redis_url,
                         redis_cluster=deployment.store == "cluster", name=name)  # fmt: skip
    with running(server):
        if fresh:
            before = None if probe is None else (probe.used(), probe.count(hub.STATUS_MATCH))
            out["prime"] = hub.prime(corpus.path, server.url)
            if probe is not None and before is not None:
                added = probe.count(hub.STATUS_MATCH) - before[1]
                out["memory_status"] = {
                    "statuses": added,
                    "bytes_per_status": hub.per_key(before[0], probe.used(), added),
                    "memory_usage_sample": probe.sample_usage(hub.STATUS_MATCH),
                }
        for scenario, batch, traffic in hub.SCENARIOS:
            log(f"  {scenario}")
            budget = round(_miss_budget(cfg, batch, workers))
            before_used = probe.used() if probe else 0
            before_sig = probe.count(hub.SIG_MATCH) if probe else 0
            spy_file = workdir / f"profile-{deployment.key}-{batch}-{traffic}.txt"
            spy: list[Any] = []

            def start_profile(spy_file: Path = spy_file, spy: list[Any] = spy) -> None:
                if cfg.profile and first:
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
            if traffic == "miss" and probe is not None:
                added = probe.count(hub.SIG_MATCH) - before_sig
                figure["memory"] = {
                    "cached_outcomes": added,
                    "bytes_per_cached_outcome": hub.per_key(before_used, probe.used(), added),
                }
            figure["profile"] = profile.summarise(spy_file)
            out["scenarios"][scenario] = figure
        if first and probe is not None:
            out["memory_cached_sample"] = probe.sample_usage(hub.SIG_MATCH)
        if first:
            out["open_loop"] = []
            for scenario, traffic in (("single code, cache hit", "hit"),
                                      ("single code, cache miss", "miss")):  # fmt: skip
                top = out["scenarios"][scenario]["ok_rate"]
                for fraction in FRACTIONS:
                    log(f"  open loop, {scenario}, {fraction:.0%} of {top:,.0f}/s")
                    point = hub.open_loop(server.url, corpus, slices, rate=round(top * fraction),
                                          traffic=traffic, seconds=cfg.seconds,
                                          max_wait_s=cfg.max_wait_s)  # fmt: skip
                    out["open_loop"].append({"traffic": scenario, "fraction": fraction, **point})
    return out


def _miss_budget(cfg: BenchConfig, batch: int, workers: int) -> float:
    # Enough new codes that wrk does not wrap: a bound on the gateway's miss rate on this class
    # of machine (single codes ~5.5k/s, batches ~12.5k codes/s per worker) times the run, plus
    # 30 %. A run that still wraps says so ("wrapped") and its figure is marked.
    per_second = (5_500 if batch == 0 else 12_500) * workers
    return per_second * (cfg.seconds + 1) * 1.3


def write(doc: dict[str, Any], path: Path) -> None:
    import json

    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n")
