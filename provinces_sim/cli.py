"""``python -m provinces_sim`` (console script ``hcgw-sim``): the simulator's command line.

    demo     the whole story against a hub it starts itself (what ``./run demo`` runs)
    config   make a keystore and write the hub's TOML for the simulated world
    run      the scenario against a hub you started with that TOML
    sample   a few real codes in every body form and the token to curl them with
    corpus   write a corpus of codes and expectations for load tests (docs/corpus.md)
    prime    make a hub hold what a corpus expects

Every failure the simulator can name (the hub unreachable, the hub refusing a message with a
SPEC error code, a bad keystore or corpus) is printed on one line, with exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from provinces_sim.census import DEFAULT_SCALE
from provinces_sim.corpus import CorpusOptions, write_corpus
from provinces_sim.demo import DemoOptions, progress_line, run_demo
from provinces_sim.errors import SimError
from provinces_sim.hub import HubApi
from provinces_sim.opconfig import hub_config
from provinces_sim.prime import prime
from provinces_sim.sample import make_sample
from provinces_sim.scenario import Scenario, Settings
from provinces_sim.world import World

DEFAULT_KEYSTORE = Path("var/sim/keystore")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="provinces_sim",
        description="31 provinces and the XPCC as health-code issuers, their travellers and "
        "verifier clients, against the hcgw hub, with an oracle checking every verdict.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="start a hub and run the whole story (./run demo)")
    d.add_argument("--minutes", type=float, default=2.0, help="scenario length (default 2)")
    d.add_argument("--ticks", type=int, default=120, help="scenario steps (default 120)")
    d.add_argument("--seed", type=int, default=2020, help="random seed (default 2020)")
    d.add_argument(
        "--scale",
        type=float,
        default=DEFAULT_SCALE,
        help=f"residents per person of the 2020 census (default {DEFAULT_SCALE:g})",
    )
    d.add_argument("--trips", type=int, default=400, help="trips per tick (default 400)")
    d.add_argument("--lifetime", type=int, default=300, help="code lifetime, s (default 300)")
    d.add_argument(
        "--burst-seconds",
        type=float,
        default=5.0,
        help="length of the closing load burst (default 5)",
    )
    d.add_argument(
        "--out-dir",
        type=Path,
        default=Path("var/demo"),
        help="where run directories go (default var/demo)",
    )

    c = sub.add_parser("config", help="make a keystore and the hub's TOML for this world")
    c.add_argument(
        "--keystore",
        type=Path,
        default=DEFAULT_KEYSTORE,
        help=f"keystore directory, made if missing (default {DEFAULT_KEYSTORE})",
    )
    c.add_argument(
        "--out",
        type=Path,
        default=Path("var/sim/hcgw.toml"),
        help="where to write the TOML (default var/sim/hcgw.toml)",
    )
    c.add_argument("--listen", default="127.0.0.1:8080", help="[gateway] listen")
    c.add_argument("--seed", type=int, default=2020, help="seed of a new keystore")
    c.add_argument("--scale", type=float, default=DEFAULT_SCALE, help="scale of a new keystore")
    c.add_argument(
        "--show-tokens",
        action="store_true",
        help="only print the keystore's client tokens (KEYSTORE/clients.json); write nothing",
    )

    r = sub.add_parser("run", help="run the scenario against a hub configured with `config`")
    r.add_argument("--hub", required=True, help="the hub's base URL, e.g. http://127.0.0.1:8080")
    r.add_argument("--keystore", type=Path, default=DEFAULT_KEYSTORE)
    r.add_argument("--minutes", type=float, default=2.0)
    r.add_argument("--ticks", type=int, default=120)
    r.add_argument("--trips", type=int, default=400)
    r.add_argument("--lifetime", type=int, default=300)

    s = sub.add_parser("sample", help="register keys, print sample codes and a token for curl")
    s.add_argument("--hub", required=True, help="the hub's base URL, e.g. http://127.0.0.1:8080")
    s.add_argument("--keystore", type=Path, default=DEFAULT_KEYSTORE)
    s.add_argument("--count", type=int, default=3, help="how many codes, 1-32 (default 3)")
    s.add_argument(
        "--out",
        type=Path,
        default=Path("var/sim/sample"),
        help="where the bodies and env go (default var/sim/sample)",
    )

    k = sub.add_parser("corpus", help="write a load-test corpus (docs/corpus.md)")
    k.add_argument("--out", type=Path, required=True, help="a new or empty directory")
    k.add_argument("--codes", type=int, default=10_000, help="how many codes (default 10000)")
    k.add_argument(
        "--invalid-share", type=float, default=0.1, help="fraction of invalid codes (default 0.1)"
    )
    k.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    k.add_argument(
        "--lifetime",
        type=int,
        default=43_200,
        help="lifetime of the valid codes, s (default 43200, max 86400)",
    )
    k.add_argument(
        "--scale",
        type=float,
        default=DEFAULT_SCALE,
        help=f"residents per person (default {DEFAULT_SCALE:g})",
    )

    m = sub.add_parser("prime", help="register a corpus's keys and push its statuses to a hub")
    m.add_argument("--corpus", type=Path, required=True, help="the corpus directory")
    m.add_argument("--hub", required=True, help="the hub's base URL")
    return p  # fmt: skip


async def _run(args: argparse.Namespace) -> int:
    world = World.open(args.keystore)
    settings = Settings(
        ticks=args.ticks,
        tick_seconds=args.minutes * 60 / args.ticks,
        lifetime=args.lifetime,
        trips_per_tick=args.trips,
        seed=world.seed,
    )
    async with HubApi(args.hub) as hub:
        scenario = Scenario(
            world,
            hub,
            settings,
            on_progress=lambda p: print(progress_line(p), flush=True),
            on_story=lambda line: print(f"  >> {line}", flush=True),
        )
        try:
            outcome = await scenario.run()
        finally:
            world.save(args.keystore)  # keys rotated or revoked during the run
    t = outcome.tally
    print(
        f"{t.scans:,} verdicts checked, {t.mismatches} mismatches, {t.unanswered} unanswered, "
        f"statuses lost {outcome.lost}: {'PASS' if outcome.passed else 'FAIL'}"
    )
    return 0 if outcome.passed else 1


def _show_tokens(keystore: Path) -> int:
    """Read-only: the tokens a keystore holds, as `config` made them."""
    if not (keystore / "keystore.json").exists():
        raise SimError(f"no keystore at {keystore}: make one with `provinces_sim config` first")
    world = World.open(keystore)
    print(f"client tokens in {keystore / 'clients.json'} (the hub's config holds their SHA-256):")
    for client in world.clients.values():
        print(f"  {client.id:<16} {'+'.join(client.scopes):<16} {client.token}")
    return 0


def _config(args: argparse.Namespace) -> int:
    if args.show_tokens:
        return _show_tokens(args.keystore)
    if (args.keystore / "keystore.json").exists():
        world = World.open(args.keystore)
        print(f"using the keystore at {args.keystore}")
    else:
        world = World.create(seed=args.seed, scale=args.scale, now=int(time.time()))
        world.save(args.keystore)
        print(f"made a keystore at {args.keystore} (keys, pseudonym secrets, tokens)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    gateway = {"listen": args.listen, "redis_url": ""}
    args.out.write_text(hub_config(world, gateway), encoding="utf-8")
    print(f"wrote the hub's config to {args.out}: {len(world.issuers)} issuers, "
          f"{len(world.clients)} clients; tokens in {args.keystore / 'clients.json'}")  # fmt: skip
    print(f"next: ./run hcgw serve --config {args.out}\n"
          f"      ./run sim run --hub http://{args.listen} --keystore {args.keystore}")  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            options = DemoOptions(
                minutes=args.minutes,
                ticks=args.ticks,
                seed=args.seed,
                scale=args.scale,
                lifetime=args.lifetime,
                trips=args.trips,
                burst_seconds=args.burst_seconds,
                out_dir=args.out_dir,
            )
            return asyncio.run(run_demo(options))
        if args.command == "config":
            return _config(args)
        if args.command == "run":
            return asyncio.run(_run(args))
        if args.command == "sample":
            if not 1 <= args.count <= 32:
                raise SimError(f"--count {args.count}: there are 1 to 32 issuers to sample")
            sample = asyncio.run(make_sample(args.keystore, args.hub, args.out, count=args.count))
            print(sample.summary())
            return 0
        if args.command == "corpus":
            options_c = CorpusOptions(
                codes=args.codes,
                invalid_share=args.invalid_share,
                seed=args.seed,
                lifetime=args.lifetime,
                scale=args.scale,
            )
            manifest = write_corpus(args.out, options_c)
            counts = manifest["counts"]
            print(f"wrote {counts['codes']:,} codes ({counts['valid']:,} valid, "
                  f"{counts['invalid']:,} invalid) to {args.out}; valid until "
                  f"{manifest['not_after']} (not_after); next: python -m provinces_sim prime "
                  f"--corpus {args.out} --hub URL")  # fmt: skip
            return 0
        if args.command == "prime":
            primed = asyncio.run(prime(args.corpus, args.hub))
            print(primed.summary(args.corpus, args.hub))
            return 0
    except SimError as exc:
        print(f"provinces_sim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("provinces_sim: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command}")
