"""``prime``: make a hub hold what a corpus expects (docs/corpus.md).

Registers every code-signing key of the corpus keystore (a 409 ``kid_collision`` counts as
done), revokes those marked revoked, and pushes the corpus statuses from each issuer's current
mark in messages of up to 10,000 events. Then it fetches the signed trust list, checks the
hub's signature on it, and checks that every corpus key is there, under the right issuer,
with the right validity and revocation: a ``kid_collision`` alone cannot prove the key was
ours. Running it twice is harmless: nothing new is added, and the statuses do not apply again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from provinces_sim import keystore
from provinces_sim.corpus import read_manifest
from provinces_sim.crypto import verify
from provinces_sim.errors import CorpusError, HubRefused, HubUnreachable
from provinces_sim.hub import HubApi
from provinces_sim.issuer import KeyState
from provinces_sim.keylife import KeyKeeper
from provinces_sim.oracle import HubModel
from provinces_sim.statuslog import StatusChannel
from provinces_sim.wire import TRUST, b64url, from_b64url, open_envelope
from provinces_sim.world import World

_FLUSH_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class Primed:
    issuers: int
    keys_added: int
    keys_held: int
    revoked: int
    events: int
    messages: int
    resends: int
    not_after: int
    seconds: float

    def summary(self, corpus: Path, url: str) -> str:
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.not_after))
        return (
            f"primed {corpus} on {url}: {self.issuers} issuers, "
            f"{self.keys_added + self.keys_held} keys ({self.keys_added} added, "
            f"{self.keys_held} already held), {self.revoked} revoked, {self.events:,} status "
            f"events in {self.messages} messages ({self.resends} resent); expectations hold "
            f"until {until} (not_after); {self.seconds:.1f} s"
        )


async def prime(corpus: Path, url: str) -> Primed:
    began = time.monotonic()
    manifest = read_manifest(corpus)
    world = World.open(corpus / "keystore")
    statuses = keystore.load_statuses(corpus / "keystore")
    async with HubApi(url) as hub:
        model = HubModel(frozenset(world.issuers))
        keeper = KeyKeeper(hub, model, time.time)
        await asyncio.gather(*(keeper.ensure(i) for i in world.issuers.values()))
        channels = [StatusChannel(i, hub, time.time) for i in world.issuers.values()]
        await asyncio.gather(*(c.start() for c in channels))
        for channel in channels:
            channel.add(statuses.get(channel.iss, []))
            channel.seal()
        for attempt in range(_FLUSH_ROUNDS):
            results = await asyncio.gather(*(c.flush() for c in channels), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            for error in failed:
                if (
                    not isinstance(error, HubUnreachable | HubRefused)
                    or attempt + 1 == _FLUSH_ROUNDS
                ):
                    raise error
            if not failed:
                break
            await asyncio.sleep(0.5)
        await _check_trust_list(hub, world, manifest)
    return Primed(
        issuers=len(world.issuers),
        keys_added=keeper.added,
        keys_held=keeper.already_registered,
        revoked=keeper.revoked,
        events=sum(c.stats.events for c in channels),
        messages=sum(c.stats.messages for c in channels),
        resends=sum(c.stats.resends for c in channels),
        not_after=int(manifest["not_after"]),
        seconds=time.monotonic() - began,
    )


async def _check_trust_list(hub: HubApi, world: World, manifest: dict[str, Any]) -> None:
    client = world.clients[manifest["trust_client"]["id"]]
    hub_key = await hub.trust_key()
    signed = open_envelope(await hub.trust_list(client), TRUST)
    if not verify(hub_key["alg"], from_b64url(hub_key["spki"]), signed.signed, signed.signature):
        raise CorpusError("the hub's trust list does not verify under its own trust-list key")
    listed = {bytes(k["kid"]): k for k in msgpack.unpackb(signed.payload, raw=False)["keys"]}
    for issuer in world.issuers.values():
        for code_key in issuer.code_keys:
            key, entry = code_key.key, listed.get(code_key.key.kid)
            want = {
                "iss": issuer.iss,
                "alg": key.alg,
                "spki": key.spki,
                "nbf": code_key.nbf,
                "naf": code_key.naf,
                "revoked": code_key.state is KeyState.REVOKED,
            }
            if entry is None or any(entry.get(f) != v for f, v in want.items()):
                raise CorpusError(
                    f"the hub's trust list does not hold key {b64url(key.kid)} of {issuer.iss} as "
                    f"the corpus needs it: {entry!r:.300}"
                )
