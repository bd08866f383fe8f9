"""The simulated world: 32 issuers with their residents, and the verifier clients.

``World.create`` makes fresh keys, secrets and tokens; ``World.open`` reads them from a
keystore. Residents are drawn from the seed (``populate``), one stream per province, so the
same seed and scale give the same people, and pseudonyms depend on the keystore's secrets.
"""

from __future__ import annotations

import os
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

from provinces_sim import keystore
from provinces_sim.census import PROVINCES, residents_for
from provinces_sim.crypto import SigningKey
from provinces_sim.issuer import CodeKey, Issuer, KeyState, Resident
from provinces_sim.keystore import Client

KEY_LIFETIME_DAYS = 30
LOAD_CLIENT = "load-test"
TRUST_CLIENT = "trust-mirror"
RAIL_CLIENT = "rail-12306"
AVIATION_CLIENT = "aviation-caac"


def terminal_id(iss: str) -> str:
    return f"terminal-{iss}"


def _token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits; the hub stores only its SHA-256


def standard_clients() -> dict[str, Client]:
    clients = [
        Client(terminal_id(p.iss), "terminal", p.iss, ("verify",), 2_000, _token())
        for p in PROVINCES
    ]
    clients += [
        Client(RAIL_CLIENT, "rail", None, ("verify", "trustlist"), 20_000, _token()),
        Client(AVIATION_CLIENT, "aviation", None, ("verify",), 20_000, _token()),
        Client(LOAD_CLIENT, "load", None, ("verify",), 10_000_000, _token()),
        Client(TRUST_CLIENT, "mirror", None, ("trustlist",), 100, _token()),
    ]
    return {c.id: c for c in clients}


@dataclass
class World:
    issuers: dict[str, Issuer]
    clients: dict[str, Client]
    seed: int
    scale: float
    created_at: int

    @classmethod
    def create(cls, *, seed: int, scale: float, now: int) -> World:
        issuers = {}
        for province in PROVINCES:
            first_key = CodeKey(
                SigningKey.generate(province.alg),
                now - 86_400,
                now + KEY_LIFETIME_DAYS * 86_400,
                KeyState.PLANNED,
            )
            issuers[province.iss] = Issuer(
                province, SigningKey.generate(province.alg), os.urandom(32), [first_key]
            )
        return cls(issuers, standard_clients(), seed, scale, now)

    @classmethod
    def open(cls, directory: Path) -> World:
        c = keystore.load(directory)
        return cls(c.issuers, c.clients, c.seed, c.scale, c.created_at)

    def save(self, directory: Path) -> None:
        keystore.save(
            directory,
            keystore.Contents(self.issuers, self.clients, self.seed, self.scale, self.created_at),
        )

    def populate(self) -> None:
        """Draw every province's residents from the seed (once)."""
        for issuer in self.issuers.values():
            if not issuer.residents:
                rng = random.Random(f"{self.seed}:{issuer.iss}:people")
                issuer.populate(residents_for(issuer.province, self.scale), rng)

    def residents(self) -> list[Resident]:
        return [r for issuer in self.issuers.values() for r in issuer.residents]

    def terminal(self, iss: str) -> Client:
        return self.clients[terminal_id(iss)]
