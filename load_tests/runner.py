"""The coordinator: spawns the generator processes, starts them together, merges what they send.

Each generator process (``multiprocessing`` spawn) reads the corpus and the precomputed draw
sequence itself, opens its connections and reports ready; the coordinator then gives every
process the same start time ``t0`` (CLOCK_MONOTONIC is one clock for all processes). Processes
ship one message per second: interval histograms (histoblobs) and counters, merged here by
second for live progress, the per-second series and the phase totals. The hub's ``/metrics``
is scraped before the run, at the end of the warm-up and after the run.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from load_tests import preflight as preflights
from load_tests.bodies import RequestBook, Target
from load_tests.corpus import load_corpus
from load_tests.generator import Engine, EngineConfig, Result, Second
from load_tests.preflight import Preflight
from load_tests.progress import progress_line
from load_tests.schedule import NS, Schedule, Step
from load_tests.scrape import Sample, scrape
from load_tests.workload import RepeatModel, check_fresh_supply, draw_sequence

CLOSED_MAX_REQUESTS = 400_000  # per run: the draw sequence wraps past this (reported)


@dataclass(frozen=True, slots=True)
class RunConfig:
    target: Target
    corpus: str
    mode: str = "open"  # or "closed"
    steps: tuple[Step, ...] = ()  # open loop: the measured plan (warm-up at the first rate)
    poisson_seed: int | None = None
    warmup_s: int = 2
    duration_s: float = 10.0
    procs: int = 1
    connections: int = 64  # per process
    cpus: tuple[int, ...] = ()  # pin process j to cpus[j % len]; () no pinning
    repeat: RepeatModel = field(default_factory=RepeatModel)
    timeout_s: float = 10.0
    drain_s: float = 10.0
    check_every: int = 100
    metrics_url: str | None = None
    corpus_limit: int | None = None
    generator_stall: tuple[float, float] | None = None
    preflight: bool = False  # one request first: refuse (preflight.Refused) a wrong target

    def schedule(self) -> Schedule | None:
        if self.mode != "open":
            return None
        warm = (Step(self.steps[0].rate, self.warmup_s),) if self.warmup_s else ()
        return Schedule([*warm, *self.steps], poisson_seed=self.poisson_seed)

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.duration_s


@dataclass(frozen=True, slots=True)
class _Spec:
    """What one generator process needs (pickled to it)."""

    run: RunConfig
    proc: int
    draws_file: str
    cpu: int | None


@dataclass
class RunData:
    """Everything the run produced, before it is judged and reported."""

    config: RunConfig
    seconds: dict[int, Second]
    results: list[Result]
    draws: array[int]
    scrapes: dict[str, dict[Sample, float] | None]
    t0_wall: float
    elapsed_s: float
    t0_ns: int = 0  # CLOCK_MONOTONIC at the start of the plan
    preseen: tuple[int, ...] = ()  # corpus codes the hub saw before the run (the preflight's)
    preflight: Preflight | None = None


class RunFailed(RuntimeError):
    """A generator process failed or the run overran its time bound; the message says which."""


Observer = Callable[[int, Second], None]  # (second, merged) once all processes sent it


def run(
    cfg: RunConfig,
    progress: Callable[[str], None] | None = None,
    observer: Observer | None = None,
) -> RunData:
    corpus = load_corpus(cfg.corpus, limit=cfg.corpus_limit)
    schedule = cfg.schedule()
    per = cfg.target.codes_per_request
    requests = schedule.count if schedule else CLOSED_MAX_REQUESTS
    if schedule is not None:
        check_fresh_supply(corpus.codes, cfg.repeat, requests * per)
    draws = draw_sequence(corpus.codes, cfg.repeat, requests * per)
    checked = None
    if cfg.preflight:
        checked = preflights.check(cfg.target, corpus, draws, cfg.total_s + cfg.drain_s)
    scrapes: dict[str, dict[Sample, float] | None] = {}
    if cfg.metrics_url:
        scrapes["before"] = scrape(cfg.metrics_url)
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="hcgw-load-") as tmp:
        draws_file = Path(tmp) / "draws.bin"
        draws_file.write_bytes(draws.tobytes())
        pipes: list[Pipe] = []
        procs = []
        for j in range(cfg.procs):
            mine, theirs = ctx.Pipe()
            cpu = cfg.cpus[j % len(cfg.cpus)] if cfg.cpus else None
            p = ctx.Process(
                target=generator_main,
                args=(_Spec(cfg, j, str(draws_file), cpu), theirs),
                name=f"hcgw-load-{j}",
            )
            p.start()
            theirs.close()
            pipes.append(mine)
            procs.append(p)
        try:
            data = _coordinate(cfg, pipes, draws, scrapes, schedule, progress, observer)
        finally:
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()
                    p.join()
    if checked is not None:
        data = replace(data, preseen=(checked.code_index,), preflight=checked)
    return data


def _coordinate(
    cfg: RunConfig,
    pipes: list[Pipe],
    draws: array[int],
    scrapes: dict[str, dict[Sample, float] | None],
    schedule: Schedule | None,
    progress: Callable[[str], None] | None,
    observer: Observer | None = None,
) -> RunData:
    _expect(pipes, "ready", timeout=120)
    t0 = time.monotonic_ns() + NS // 2
    t0_wall = time.time() + (t0 - time.monotonic_ns()) / NS
    for pipe in pipes:
        pipe.send(("start", t0))
    seconds: dict[int, Second] = {}
    results: list[Result | None] = [None] * len(pipes)
    warm_scraped = not (cfg.metrics_url and cfg.warmup_s)
    printed = 0
    live = list(pipes)
    deadline = t0 + round((cfg.total_s + cfg.drain_s + 60) * NS)
    while live:
        if time.monotonic_ns() > deadline:
            raise RunFailed("generators did not finish within the run's time bound")
        if not warm_scraped and time.monotonic_ns() >= t0 + cfg.warmup_s * NS:
            assert cfg.metrics_url is not None
            scrapes["warmup_end"] = scrape(cfg.metrics_url)
            warm_scraped = True
        for ready in wait(live, timeout=0.05):
            assert isinstance(ready, Pipe)
            try:
                kind, proc, payload = ready.recv()
            except EOFError:
                raise RunFailed("a generator process died") from None
            if kind == "interval":
                seconds.setdefault(payload["second"], Second()).add(payload)
            elif kind == "done":
                results[proc] = payload
                live.remove(ready)
            elif kind == "error":
                raise RunFailed(f"generator {proc}: {payload}")
        while printed in seconds and seconds[printed].procs == len(pipes):
            if progress:
                line = progress_line(printed, seconds[printed], cfg.warmup_s, cfg.total_s, schedule)
                progress(line)
            if observer:
                observer(printed, seconds[printed])
            printed += 1
    if cfg.metrics_url:
        scrapes["after"] = scrape(cfg.metrics_url)
    elapsed = (time.monotonic_ns() - t0) / NS
    results_ = [r or Result() for r in results]
    return RunData(cfg, seconds, results_, draws, scrapes, t0_wall, elapsed, t0)


def _expect(pipes: list[Pipe], what: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    waiting = set(range(len(pipes)))
    while waiting:
        left = end - time.monotonic()
        if left <= 0:
            raise RunFailed(f"generators {sorted(waiting)} not {what} within {timeout} s")
        for pipe in wait([pipes[j] for j in waiting], timeout=left):
            assert isinstance(pipe, Pipe)
            try:
                kind, proc, payload = pipe.recv()
            except EOFError:
                raise RunFailed("a generator process died while starting") from None
            if kind == "error":
                raise RunFailed(f"generator {proc}: {payload}")
            if kind == what:
                waiting.discard(proc)


# --- the generator process ----------------------------------------------------------------


def generator_main(spec: _Spec, pipe: Pipe) -> None:
    try:
        if spec.cpu is not None:
            os.sched_setaffinity(0, {spec.cpu})
        cfg = spec.run
        corpus = load_corpus(cfg.corpus, limit=cfg.corpus_limit)
        draws = array("I")
        draws.frombytes(Path(spec.draws_file).read_bytes())
        book = RequestBook(cfg.target, corpus.codes, draws)
        schedule = cfg.schedule()
        if schedule is not None:  # build this process's requests before the clock starts
            for slot, _ in schedule.slots(spec.proc, cfg.procs):
                book.request(slot)
        gc.collect()
        gc.freeze()  # the corpus and the requests are never garbage: keep GC off them
        engine_cfg = EngineConfig(
            proc=spec.proc,
            procs=cfg.procs,
            mode=cfg.mode,
            connections=cfg.connections,
            warmup_s=cfg.warmup_s,
            duration_s=cfg.duration_s,
            timeout_s=cfg.timeout_s,
            drain_s=cfg.drain_s,
            check_every=cfg.check_every,
            generator_stall=cfg.generator_stall,
        )
        _event_loop()(_generate(engine_cfg, book, schedule, pipe))
    except Exception as exc:  # noqa: BLE001 - reported to the coordinator, which fails the run
        pipe.send(("error", spec.proc, f"{type(exc).__name__}: {exc}"))


async def _generate(
    cfg: EngineConfig, book: RequestBook, schedule: Schedule | None, pipe: Pipe
) -> None:
    engine = Engine(cfg, book, schedule, lambda doc: pipe.send(("interval", cfg.proc, doc)))
    await engine.connect()
    pipe.send(("ready", cfg.proc, None))
    loop = asyncio.get_running_loop()
    kind, t0 = await loop.run_in_executor(None, pipe.recv)
    assert kind == "start"
    result = await engine.run(t0)
    pipe.send(("done", cfg.proc, result))


def _event_loop() -> Callable[..., Any]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def with_metrics_url(cfg: RunConfig) -> RunConfig:
    """Default the metrics URL to the target's own /metrics."""
    if cfg.metrics_url is not None:
        return cfg
    return replace(cfg, metrics_url=cfg.target.url.rstrip("/") + "/metrics")
