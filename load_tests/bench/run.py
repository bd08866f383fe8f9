"""The benchmark of record, in one run: peers, limits and the gateway in rounds, memory, targets.

The gateway is measured in several deployments (``plan``): 1 and 2 workers on one Redis, the
most workers again under gunicorn instead of our SO_REUSEPORT supervisor, and every worker count
on a local Redis Cluster (3 masters, 3 replicas, ``load_tests.cluster``); with ``--compare REV``
every deployment runs once more from a worktree of that revision (``builds``). With the
acknowledgement measurements (``acks``), 1 and 2 workers with ``lease_invalidation`` off (every
other deployment has it on, the hub's default) run too, on a Redis of their own, measured only
there.

A shared or virtual machine's speed drifts by minutes, so nothing is divided by a figure taken
minutes away: every deployment and the empty handler are up for the whole run, and the rounds
(``rounds``, ``interleave``) measure the limits and the gateway in turn, seconds apart, and
close each with the open-loop latency points on the first deployment (``openloop``), a
cached single code beside batches of new codes on it (``stall``) and a ``status`` message's
acknowledgement on 1 and 2 busy workers, leases on and off (``acks``). After the rounds, and
never during them, comes the py-spy profile of the first deployment (its sampling costs CPU).
"""

from __future__ import annotations

import datetime
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgpack

from gateway.store.embedded import EmbeddedRedis
from load_tests.bench import acks, hub, micro, openloop
from load_tests.bench.builds import HEAD, Build
from load_tests.bench.compare import subject_key
from load_tests.bench.document import BenchDoc, CrosscheckRecord, MemoryStatus, Settings
from load_tests.bench.document import Deployment as Entry
from load_tests.bench.interleave import RoundsConfig, Subject, empty_wrk, run_rounds, warm_up
from load_tests.bench.passes import memory_observer, profile_pass
from load_tests.bench.samples import SCHEMA, SCHEMA_VERSION, rounds_to_json
from load_tests.bench.summary import summarise
from load_tests.bodies import Target
from load_tests.cluster import LocalCluster
from load_tests.corpus import Corpus, load_corpus
from load_tests.crosscheck import crosscheck
from load_tests.machine import facts, wait_for_quiet
from load_tests.processes import Server, gateway, gunicorn, reference, running
from load_tests.runner import RunConfig
from load_tests.selftest import write_dummy_corpus
from load_tests.workload import RepeatModel

PEER_SECONDS = 2.5  # micro.micro's unit: raw calls 3×, each algorithm's peers 4× this


@dataclass(frozen=True, slots=True)
class BenchConfig:
    seconds: float = 3.0  # per measurement in a round
    rounds: int = 5  # a median of 5 is still between clean rounds with 2 of them off
    connections: int = 32
    codes: int = 800_000  # new codes for every miss round (unsent ones go back: Slices.give_back)
    corpus: Path | None = None  # an existing corpus (else one is made with provinces_sim)
    workers: tuple[int, ...] = (1, 2)
    scenarios: tuple[str, ...] = tuple(s[0] for s in hub.SCENARIOS)
    gunicorn: bool = True  # the most workers again under gunicorn (aiohttp's worker)
    cluster: bool = True  # every worker count again on a Redis Cluster (3 masters + 3 replicas)
    profile: bool = True
    peers: bool = True  # PyJWT, joserfc, pycose against our core (in this process)
    crosscheck: bool = True  # this harness against wrk on the empty handler
    open_loop: bool = True
    open_loop_seconds: float = 3.0  # per point and round, after 1 s of warm-up
    stall_seconds: float = 3.0  # per round: a cached single code beside batches (0: none)
    ack_seconds: float = 4.0  # per deployment and round: status acknowledgements (0: none)
    seed: int = 2020
    max_wait_s: float = 60.0  # before each measurement, for a quiet machine (shared hosts)
    max_spread: float = 0.20  # per-round ratios further apart than this: the figure is marked
    max_drift: float = 0.20  # limits moving more than this around a measurement: marked
    retries: int = 2  # a measurement others disturbed, taken again up to this many times


@dataclass(frozen=True, slots=True)
class Deployment:
    """One way of running the hub: how many workers, under which server, on which Redis."""

    workers: int
    server: str = "hcgw"  # hcgw serve --workers N (SO_REUSEPORT) | gunicorn (a shared socket)
    store: str = "redis"  # one embedded redis-server | a local Redis Cluster
    leases: bool = True  # lease_invalidation, the hub's default; off: the acknowledgement slots'
    # deployments that compare a write's time to its 2xx without leases, measured only there

    @property
    def key(self) -> str:
        """``"1"``, ``"2"``, ``"2-gunicorn"``, ``"1-cluster"``, ``"1-noleases"``: the JSON's key
        for its figures."""
        extra = [x for x in (self.server, self.store) if x not in ("hcgw", "redis")]
        return "-".join([str(self.workers), *extra, *([] if self.leases else ["noleases"])])

    @property
    def label(self) -> str:
        text = f"{self.workers} worker{'s' if self.workers > 1 else ''}"
        if self.server == "gunicorn":
            text += " (gunicorn)"
        if self.store == "cluster":
            text += ", Redis Cluster"
        if not self.leases:
            text += ", lease_invalidation off"
        return text


def plan(cfg: BenchConfig) -> list[list[Deployment]]:
    """The deployments, grouped by the Redis they share. Each group starts on an empty Redis, so
    its miss runs may use the corpus again from the start: no code has been seen by that hub."""
    groups = [[Deployment(w) for w in cfg.workers]]
    if cfg.gunicorn and max(cfg.workers) > 1:
        groups.append([Deployment(max(cfg.workers), server="gunicorn")])
    if cfg.cluster:
        groups.append([Deployment(w, store="cluster") for w in cfg.workers])
    if cfg.ack_seconds > 0:
        groups.append([Deployment(w, leases=False) for w in cfg.workers])
    return groups


def bench(
    cfg: BenchConfig, log: Callable[[str], None], workdir: Path, base: Build | None = None
) -> BenchDoc:
    zero = time.monotonic()
    builds = [HEAD, *([base] if base else [])]
    doc: BenchDoc = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "mode": "compare" if base else "record",
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": facts(),
        "settings": settings(cfg),
        "builds": [{"name": b.name, "label": b.label, "commit": b.commit} for b in builds],
    }
    if cfg.peers:
        log("peers: raw signature verification, PyJWT / joserfc / pycose vs our core")
        doc["micro_quiet"] = wait_for_quiet(cfg.max_wait_s)
        doc["micro"] = micro.micro(PEER_SECONDS)
    corpus_dir = cfg.corpus or workdir / "corpus"
    if cfg.corpus is None:
        log(f"corpus: provinces_sim corpus --codes {cfg.codes}")
        hub.make_corpus(corpus_dir, cfg.codes, cfg.seed)
    corpus = load_corpus(corpus_dir)
    doc["corpus"] = {"path": str(corpus_dir), "codes": len(corpus.codes),
                     "valid_algs": alg_shares(corpus), "codes_used": 0}  # fmt: skip
    rounds_cfg = RoundsConfig(cfg.rounds, cfg.seconds, cfg.connections, cfg.max_wait_s,
                              cfg.retries, cfg.open_loop_seconds, cfg.stall_seconds,
                              cfg.ack_seconds)  # fmt: skip
    with ExitStack() as stack:
        empty = stack.enter_context(running(reference("empty", workdir)))
        if cfg.crosscheck:
            log("this harness against wrk on the empty handler")
            doc["crosscheck"] = crosscheck_empty(cfg, empty.url, workdir)
        subjects, probe = start(stack, cfg, builds, corpus, workdir, log, doc)
        first = subjects[0]
        stalled = (first.key,) if cfg.stall_seconds > 0 and not base else ()
        acked = ack_subjects(subjects) if cfg.ack_seconds > 0 and not base else ()
        signer = acks.corpus_signer(corpus) if acked else None
        log(f"warm-up: every scenario once on {len(subjects)} gateways")
        warm_up(rounds_cfg, subjects, cfg.scenarios, corpus, empty.url, workdir, acked, signer)
        observe = memory_observer(probe, first.key, doc["gateway"][first.key])
        points = openloop.points(first.key, cfg.scenarios) if cfg.open_loop and not base else ()
        rounds = run_rounds(rounds_cfg, subjects, cfg.scenarios, corpus, empty.url, workdir,
                            log, zero=zero, observe=observe, open_loop=points, stall=stalled,
                            acks=acked, signer=signer)  # fmt: skip
        doc["rounds"] = rounds_to_json(rounds)
        if cfg.profile and not base:
            log(f"profile: py-spy on {first.label}, one more run of each scenario (not counted)")
            profile_pass(rounds_cfg, first, cfg.scenarios, corpus, workdir, doc["gateway"])
        doc["corpus"]["codes_used"] = max(s.slices.next_index for s in subjects)
    summarise(doc)
    doc["elapsed_s"] = round(time.monotonic() - zero, 1)
    return doc


def settings(cfg: BenchConfig) -> Settings:
    return {
        "seconds": cfg.seconds,
        "rounds": cfg.rounds,
        "connections": cfg.connections,
        "codes": cfg.codes,
        "workers": list(cfg.workers),
        "scenarios": list(cfg.scenarios),
        "gunicorn": cfg.gunicorn,
        "cluster": cfg.cluster,
        "wrk_threads": 1,
        "profile": cfg.profile,
        "max_wait_s": cfg.max_wait_s,
        "max_spread": cfg.max_spread,
        "max_drift": cfg.max_drift,
        "retries": cfg.retries,
        "open_loop_seconds": cfg.open_loop_seconds,
        "stall_seconds": cfg.stall_seconds,
        "ack_seconds": cfg.ack_seconds,
    }


def ack_subjects(subjects: list[Subject]) -> tuple[str, ...]:
    """The deployments of the acknowledgement slots: every worker count of ``hcgw serve`` on
    one Redis, lease_invalidation on (the rounds' own) and off."""
    return tuple(s.key for s in subjects if s.group.removesuffix("-noleases").isdigit())


def start(
    stack: ExitStack,
    cfg: BenchConfig,
    builds: list[Build],
    corpus: Corpus,
    workdir: Path,
    log: Callable[[str], None],
    doc: BenchDoc,
) -> tuple[list[Subject], hub.RedisProbe | None]:
    """Every build's deployments, up on their Redis and primed; the first Redis' probe."""
    subjects: list[Subject] = []
    probe: hub.RedisProbe | None = None
    doc["gateway"] = {}
    for build in builds:
        for n, group in enumerate(plan(cfg)):
            store = group[0].store
            url = stack.enter_context(redis_store(store, workdir / f"{store}-{n}-{build.name}"))
            slices = hub.Slices(corpus)
            for deployment in group:
                key = subject_key(deployment.key, build.name)
                label = deployment.label + ("" if build is HEAD else f" @ {build.label}")
                log(f"starting {label}")
                server = stack.enter_context(running(server_for(corpus, deployment, build, url,
                                                                workdir, key)))  # fmt: skip
                entry: Entry = {"label": label, "workers": deployment.workers,
                                         "server": deployment.server, "store": deployment.store,
                                         "build": build.name, "scenarios": {}}  # fmt: skip
                entry["lease_invalidation"] = deployment.leases
                if deployment is group[0]:
                    if probe is None and build is HEAD:
                        probe = hub.RedisProbe(url)
                        stack.callback(probe.close)
                        entry["prime"], entry["memory_status"] = prime_measured(corpus,
                                                                                server.url, probe)
                    else:
                        entry["prime"] = hub.prime(corpus.path, server.url)
                doc["gateway"][key] = entry
                subjects.append(Subject(key, label, server.url, deployment.workers, slices,
                                        server.pid, group=deployment.key,
                                        leases=deployment.leases,
                                        in_blocks=deployment.leases))  # fmt: skip
    return subjects, probe


def server_for(corpus: Corpus, deployment: Deployment, build: Build, redis_url: str,
               workdir: Path, key: str) -> Server:  # fmt: skip
    name = f"gateway-{key}"
    if deployment.server == "gunicorn":
        server = gunicorn(corpus.config, workdir / name, workers=deployment.workers,
                          redis_url=redis_url, name=name)  # fmt: skip
    else:
        server = gateway(corpus.config, workdir / name, workers=deployment.workers,
                         redis_url=redis_url, redis_cluster=deployment.store == "cluster",
                         name=name)  # fmt: skip
    server.env.update(build.env)  # another build: its worktree on PYTHONPATH
    # Said either way: a revision under --compare may have another default.
    server.env["HCGW_LEASE_INVALIDATION"] = "true" if deployment.leases else "false"
    return server


def prime_measured(corpus: Corpus, url: str, probe: hub.RedisProbe) -> tuple[str, MemoryStatus]:
    """The corpus' statuses pushed through the hub (what prime said), and the Redis memory
    they took."""
    used, count = probe.used(), probe.count(hub.STATUS_MATCH)
    primed = hub.prime(corpus.path, url)
    added = probe.count(hub.STATUS_MATCH) - count
    return primed, {
        "statuses": added,
        "bytes_per_status": hub.per_key(used, probe.used(), added),
        "memory_usage_sample": probe.sample_usage(hub.STATUS_MATCH),
    }


@contextmanager
def redis_store(store: str, root: Path) -> Iterator[str]:
    """An empty Redis for a group of deployments: one embedded server, or a local cluster (a
    ``--workdir`` kept from an earlier run would bring its data back: hits, not misses)."""
    shutil.rmtree(root, ignore_errors=True)
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


def crosscheck_empty(cfg: BenchConfig, url: str, workdir: Path) -> CrosscheckRecord:
    """This harness against wrk on the empty handler (closed loop, same connections)."""
    dummy = write_dummy_corpus(workdir / "dummy-corpus")
    wait_for_quiet(cfg.max_wait_s)
    empty_wrk(url, 1.0, cfg.connections, workdir)  # warm-up
    check = crosscheck(
        RunConfig(
            target=Target(url, None, path="/v1/verify"),
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
    return {"agreement": check["agreement"], "verdict": check["verdict"],
            "wrk_rate": check["wrk"]["ok_rate"], "harness_rate": check["harness"]["ok_rate"]}


def write(doc: BenchDoc, path: Path) -> None:
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n")
