"""Helpers for the simulator's tests: a hub built from a simulated world's own config, and the
world's raw ID numbers drawn again from the seed (to search the simulator's files for them).

The hub is the real gateway app, configured from the TOML ``provinces_sim`` writes, served on
a real loopback port so that the simulator reaches it over HTTP like any other client.
"""

from __future__ import annotations

import contextlib
import random
import tomllib
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

from aiohttp.test_utils import TestServer

from gateway.config import parse_settings
from gateway.core.crypto import generate_private_key
from gateway.core.model import Alg
from gateway.web.app import create_app
from provinces_sim import people
from provinces_sim.census import residents_for
from provinces_sim.opconfig import hub_config
from provinces_sim.world import World


@contextlib.asynccontextmanager
async def sim_hub(
    world: World, redis_url: str, clock: Callable[[], float] | None = None
) -> AsyncIterator[str]:
    """An in-process gateway enrolling ``world``'s issuers and clients; yields its base URL."""
    settings = parse_settings(tomllib.loads(hub_config(world, {})), {})
    extra = {"clock": clock} if clock is not None else {}
    app = create_app(
        settings, redis_url=redis_url, hub_key=generate_private_key(Alg.ED25519), **extra
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def id_numbers(world: World) -> set[str]:
    """Every raw ID number behind ``world``'s residents, drawn again as ``populate`` drew them."""
    numbers = set()
    for issuer in world.issuers.values():
        registry = people.draw(
            random.Random(f"{world.seed}:{issuer.iss}:people"), issuer.province.cities(), 0.3
        )
        for _ in range(residents_for(issuer.province, world.scale)):
            numbers.add(next(registry).id_number)
    return numbers


def files_holding(root: Path, needles: Iterable[str]) -> dict[str, list[str]]:
    """Files under ``root`` whose bytes contain any of ``needles`` (ASCII), with the hits."""
    wanted = [n.encode() for n in needles]
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_socket():
            data = path.read_bytes()
            hits = [n.decode() for n in wanted if n in data]
            if hits:
                found[str(path)] = hits[:3]
    return found
