"""The options of ``hcgw-load run`` (and the traffic options ``crosscheck`` shares), read into a
:class:`RunConfig`, thresholds and self-check limits.

Every option's help says its default and its unit; a latency needs its unit (``--max-p99
5ms``); a URL needs its scheme; an option the chosen mode does not use is named in a warning
(``ignored``) rather than dropped in silence. The argument types themselves live in ``args``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from load_tests.args import cpus, duration, latency, loopback_url, min_rate, procs, share, stall
from load_tests.bodies import ENCODINGS, Target
from load_tests.corpus import CorpusError, load_manifest
from load_tests.runner import RunConfig
from load_tests.schedule import Step, parse_steps
from load_tests.thresholds import Thresholds
from load_tests.verdict import SelfCheckLimits
from load_tests.workload import RepeatModel

DEFAULT_DURATION_S = 10.0


def add_traffic_args(p: argparse.ArgumentParser, *, url_required: bool = True) -> None:
    p.add_argument(
        "--url",
        type=loopback_url,
        required=url_required,
        metavar="URL",
        help="the hub, http://127.0.0.1:PORT (loopback only)"
        + ("" if url_required else "; or --spawn-hub"),
    )
    p.add_argument(
        "--corpus", type=Path, required=True, metavar="DIR", help="a provinces_sim corpus directory"
    )
    p.add_argument("--token", help="bearer token (default: the corpus manifest's client token)")
    p.add_argument(
        "--batch",
        type=int,
        default=0,
        metavar="N",
        help="codes per batch request; 0 sends single codes",
    )
    p.add_argument("--encoding", choices=ENCODINGS, default="msgpack", help="request body format")
    g = p.add_argument_group("repeat model (sets the cache-hit ratio)")
    g.add_argument(
        "--zipf-s",
        type=float,
        default=1.0,
        metavar="S",
        help="Zipf exponent over code ranks; 0 is uniform",
    )
    g.add_argument(
        "--population",
        type=int,
        metavar="N",
        help="distinct codes drawn from (default: every code after --skip)",
    )
    g.add_argument(
        "--fresh",
        action="store_true",
        help="every draw a new code: cache-miss traffic (refused if too few)",
    )
    g.add_argument(
        "--invalid-share",
        type=share,
        metavar="SHARE",
        help="share of invalid codes, e.g. 10%% (default: as the corpus has it)",
    )
    g.add_argument(
        "--skip",
        type=int,
        default=0,
        metavar="N",
        help="leave out the first N corpus codes (runs on disjoint codes)",
    )
    g.add_argument("--seed", type=int, default=1, metavar="N", help="seeds the draws")
    p.add_argument(
        "--procs",
        type=procs,
        default="1",
        metavar="N|auto",
        help="generator processes; auto: one per usable core",
    )
    p.add_argument(
        "--cpus",
        type=cpus,
        metavar="LIST",
        help="pin generator j to the j-th of these, e.g. 1 or 0-1 (default: unpinned)",
    )
    p.add_argument(
        "--timeout",
        type=duration,
        default="10s",
        metavar="SECONDS",
        help="per request, e.g. 10s or 500ms",
    )
    p.add_argument(
        "--check-every",
        type=int,
        default=100,
        metavar="N",
        help="compare every N-th answer with the corpus; 0 never",
    )


def add_run_args(p: argparse.ArgumentParser) -> None:
    add_traffic_args(p, url_required=False)
    p.add_argument(
        "--spawn-hub",
        action="store_true",
        help="start a hub for the corpus (temporary data, primed), measure it, stop it; "
        "instead of --url",
    )
    p.add_argument(
        "--hub-workers",
        type=int,
        metavar="N",
        help="with --spawn-hub: its worker processes (default: 1)",
    )
    p.add_argument(
        "--mode",
        choices=("open", "closed"),
        default="open",
        help="open: a planned rate (--rate/--steps); closed: as fast as it can",
    )
    p.add_argument("--rate", type=float, metavar="PER_S", help="open loop: requests per second")
    p.add_argument(
        "--steps",
        type=parse_steps,
        metavar="RATE:SECONDS,…",
        help="open loop ramp instead of --rate, e.g. 200:5s,400:5s",
    )
    p.add_argument("--poisson", action="store_true", help="open loop: exponential gaps (seeded)")
    p.add_argument(
        "--duration",
        type=duration,
        metavar="SECONDS",
        help=f"measured phase, e.g. 10s or 2m (default: {DEFAULT_DURATION_S:g}s; with "
        "--steps, their sum)",
    )
    p.add_argument(
        "--warmup",
        type=duration,
        default="2s",
        metavar="SECONDS",
        help="first whole seconds, reported apart, not in the figures",
    )
    p.add_argument(
        "--connections", type=int, default=64, metavar="N", help="per process: the in-flight bound"
    )
    p.add_argument(
        "--drain",
        type=duration,
        default="10s",
        metavar="SECONDS",
        help="how long answers may still come after the plan",
    )
    p.add_argument(
        "--metrics-url",
        metavar="URL",
        help="the hub's /metrics, scraped before and after (default: URL/metrics)",
    )
    p.add_argument(
        "--hit-ratio-tolerance",
        type=share,
        default="10%",
        metavar="SHARE",
        help="observed vs expected cache hit ratio, in points; 100%% turns it off",
    )
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve the run's own counters and histograms for Prometheus meanwhile",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report here")
    p.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="write a PNG of the run here (needs matplotlib)",
    )
    p.add_argument("--quiet", action="store_true", help="no live progress on stderr")
    t = p.add_argument_group("thresholds (measured phase; exit 4, 5, 6)")
    t.add_argument(
        "--max-p99",
        type=latency,
        metavar="LATENCY",
        help="latency p99 from the intended send, with its unit: 5ms, 800us (exit 5)",
    )
    t.add_argument(
        "--min-rate",
        type=min_rate,
        metavar="PER_S|SHARE%",
        help="ok answers/s, judged per step (steps planned at least that high), or a "
        "share of each step's plan, e.g. 95%% (exit 6)",
    )
    t.add_argument(
        "--max-error-rate",
        type=share,
        metavar="SHARE",
        help="e.g. 0.1%%: non-200, lost, wrong verdicts (exit 4)",
    )
    s = p.add_argument_group("self-check limits (exit 3 when the generator fails them)")
    s.add_argument(
        "--max-gen-lag-p99",
        type=latency,
        default="10ms",
        metavar="LATENCY",
        help="open loop: send delay with a connection free",
    )
    s.add_argument(
        "--max-loop-lag-p99",
        type=latency,
        default="10ms",
        metavar="LATENCY",
        help="the generator's event-loop heartbeat",
    )
    s.add_argument(
        "--generator-stall",
        type=stall,
        metavar="MS:S",
        help="self-test knob: block the generator's own loop MS every S seconds",
    )


def ignored(args: argparse.Namespace) -> list[str]:
    """The options given that this run will not use, each with why."""
    out = []
    if args.mode == "closed":
        for flag, value in (("--rate", args.rate), ("--steps", args.steps),
                            ("--poisson", args.poisson)):  # fmt: skip
            if value:
                out.append(
                    f"{flag} is ignored with --mode closed (it sends as fast as "
                    "--connections allow)"
                )
    elif args.steps:
        if args.rate:
            out.append("--rate is ignored with --steps (each step has its rate)")
        if args.duration is not None:
            out.append("--duration is ignored with --steps (the measured phase is their sum)")
    if args.hub_workers is not None and not args.spawn_hub:
        out.append("--hub-workers is ignored without --spawn-hub")
    if args.spawn_hub and args.metrics_url:
        out.append("--metrics-url is ignored with --spawn-hub (the spawned hub's is used)")
    return out


def run_config(args: argparse.Namespace) -> RunConfig:
    token = args.token
    if token is None:
        token = load_manifest(args.corpus)["client"]["token"]
    steps: tuple[Step, ...] = ()
    if args.mode == "open":
        if args.steps:
            steps = tuple(args.steps)
        elif args.rate:
            steps = (Step(args.rate, args.duration or DEFAULT_DURATION_S),)
        else:
            raise CorpusError("open loop needs --rate or --steps (or --mode closed)")
    measured = sum(s.seconds for s in steps) if steps else (args.duration or DEFAULT_DURATION_S)
    return RunConfig(
        target=Target(args.url, token, args.batch, args.encoding),
        corpus=str(args.corpus),
        mode=args.mode,
        steps=steps,
        poisson_seed=args.seed if getattr(args, "poisson", False) else None,
        warmup_s=round(args.warmup),
        duration_s=measured,
        procs=args.procs,
        connections=args.connections,
        cpus=args.cpus or (),
        repeat=RepeatModel(
            zipf_s=args.zipf_s,
            population=args.population,
            fresh=args.fresh,
            invalid_share=args.invalid_share,
            skip=args.skip,
            seed=args.seed,
        ),
        timeout_s=args.timeout,
        drain_s=args.drain,
        check_every=args.check_every,
        metrics_url=args.metrics_url or args.url + "/metrics",
        generator_stall=args.generator_stall,
    )


def thresholds(args: argparse.Namespace, argv: Sequence[str]) -> Thresholds:
    rate, rate_share = args.min_rate or (None, None)
    if rate_share is not None and args.mode == "closed":
        raise CorpusError("--min-rate as a share needs a plan: give requests/s with --mode closed")
    return Thresholds(
        max_p99_us=round(args.max_p99 * 1e6) if args.max_p99 else None,
        min_rate=rate,
        max_error_rate=args.max_error_rate,
        min_rate_share=rate_share,
        typed=tuple(_typed(argv, ("--max-p99", "--min-rate", "--max-error-rate"))),
    )


def limits(args: argparse.Namespace) -> SelfCheckLimits:
    return SelfCheckLimits(
        gen_lag_p99_us=round(args.max_gen_lag_p99 * 1e6),
        loop_lag_p99_us=round(args.max_loop_lag_p99 * 1e6),
        hit_ratio_tolerance=args.hit_ratio_tolerance,
    )


def _typed(argv: Sequence[str], flags: Sequence[str]) -> list[tuple[str, str]]:
    """Each flag's value as the user typed it (``--max-p99 5ms`` or ``--max-p99=5ms``)."""
    out = []
    for n, word in enumerate(argv):
        flag, eq, value = word.partition("=")
        if flag in flags:
            if not eq and n + 1 < len(argv):
                value = argv[n + 1]
            out.append((flag, value))
    return out
