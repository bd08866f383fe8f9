"""The demo: a real hub with its own Redis, the 32 issuers, a scenario, a load burst, a report.

Everything lives in a fresh run directory, ./var/demo/<timestamp>/: the keystore, the hub's
config, its data (``data_dir``, so the embedded Redis never touches a user's ./var), its log,
and the reports. The hub is the real gateway, started as ``python -m gateway serve`` and
killed with -9 once in the middle of the run; the simulator talks to it only over HTTP.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from provinces_sim import report
from provinces_sim.burst import burst
from provinces_sim.census import DEFAULT_SCALE
from provinces_sim.hub import HubApi
from provinces_sim.hubproc import HubProcess
from provinces_sim.opconfig import hub_config
from provinces_sim.oracle import COLOURS
from provinces_sim.scenario import Progress, Scenario, Settings
from provinces_sim.world import LOAD_CLIENT, World


@dataclass(frozen=True, slots=True)
class DemoOptions:
    minutes: float = 2.0
    ticks: int = 120
    seed: int = 2020
    scale: float = DEFAULT_SCALE
    lifetime: int = 300
    trips: int = 400
    burst_seconds: float = 5.0
    out_dir: Path = Path("var/demo")


def progress_line(p: Progress) -> str:
    t = p.tally
    o = t.outcomes()
    invalid = t.scans - sum(o[c] for c in COLOURS)
    hub = (
        ""
        if p.hub_up
        else "  hub DOWN: issuers keep their status changes, terminals verify offline"
    )
    return (
        f"  tick {p.tick:>3}/{p.ticks} {p.phase:<8} scans {t.scans:>7,}  green {o['green']:>7,}"
        f"  yellow {o['yellow']:>5,}  red {o['red']:>4,}  invalid {invalid:>5,}"
        f"  status events {p.status_events:>6,}  mismatches {t.mismatches}{hub}"
    )


def _run_dir(base: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    path.mkdir(parents=True, mode=0o700)
    return path


async def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    began = time.monotonic()

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    run_dir = _run_dir(options.out_dir).absolute()
    world = World.create(seed=options.seed, scale=options.scale, now=int(time.time()))
    world.populate()
    world.save(run_dir / "keystore")
    config = run_dir / "hcgw.toml"
    gateway = {
        "redis_url": "",
        "data_dir": str(run_dir / "hub"),
        "trust_key": str(run_dir / "hub" / "trust-key.pem"),
    }
    config.write_text(hub_config(world, gateway, note="For the demo."), encoding="utf-8")
    hub_process = HubProcess(config, run_dir, log=run_dir / "hub.log")
    settings = Settings(
        ticks=options.ticks,
        tick_seconds=options.minutes * 60 / options.ticks,
        lifetime=options.lifetime,
        trips_per_tick=options.trips,
        seed=options.seed,
    )
    say("hcgw demo: 31 provinces and the XPCC as issuers, their travellers, and a real hub")
    say(f"run directory: {run_dir}")
    residents = len(world.residents())
    say(f"world: {residents:,} residents (scale {options.scale:g}, seed {options.seed})")
    say(f"hub: {await hub_process.start()} at {hub_process.url}, with its own embedded Redis")
    say(f"dashboard: {hub_process.url}/dashboard (live while the demo runs; metrics at /metrics)")
    say(
        f"scenario: {options.ticks} ticks over {options.minutes:g} min: outbreak, contact "
        "tracing, key rotations, a key compromise, a hub restart (kill -9), recovery"
    )
    say()
    try:
        async with HubApi(hub_process.url) as hub:
            scenario = Scenario(
                world,
                hub,
                settings,
                control=hub_process,
                on_progress=lambda p: say(progress_line(p)),
                on_story=lambda line: say(f"  >> {line}"),
            )
            outcome = await scenario.run()
            say(f"  >> load burst: {options.burst_seconds:g} s of concurrent batch scans ...")
            now = int(time.time())
            pool = [
                issuer.issue(r, now, options.lifetime)
                for issuer in world.issuers.values()
                for r in issuer.residents
            ]
            result = await burst(
                hub,
                world.clients[LOAD_CLIENT],
                pool,
                scenario.model,
                time.time,
                seconds=options.burst_seconds,
            )
    finally:
        await hub_process.stop()
    world.save(run_dir / "keystore")  # rotations and the compromise changed the keys
    meta = {
        "seed": options.seed,
        "scale": options.scale,
        "ticks": options.ticks,
        "minutes": options.minutes,
        "run_dir": str(run_dir),
        "hub_log": str(hub_process.log),
        "demo_seconds": round(time.monotonic() - began, 1),
    }
    doc = report.build(world, outcome, result, meta)
    (run_dir / "report.json").write_text(
        json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    (run_dir / "report.txt").write_text(report.render(doc), encoding="utf-8")
    say(report.render(doc, story=False))  # the story was told as it happened
    say(f"reports: {run_dir / 'report.txt'} and report.json; hub log: {hub_process.log}")
    say(f"the demo took {time.monotonic() - began:.0f} s")
    return 0 if doc["passed"] else 1
