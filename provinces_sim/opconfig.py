"""Operator tooling: the hub's TOML configuration for the simulated world (SPEC §8).

One ``[[issuer]]`` per province with its upload key (base64url DER SPKI), one ``[[client]]``
per verifier client with the SHA-256 of its token, its scopes and its rate. Tokens themselves
stay in the keystore's clients.json; only their digests are written here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import tomli_w

from provinces_sim.wire import b64url
from provinces_sim.world import World

GatewayValue = str | int | float | bool


def _plain(value: GatewayValue) -> GatewayValue:
    """A whole float as an integer (``rate = 10``, not ``10.0``), as the config has it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def hub_config(world: World, gateway: Mapping[str, GatewayValue], *, note: str = "") -> str:
    header = [
        "# The hub's configuration for the simulated world of provinces_sim (SPEC §8).",
        f"# Written from the keystore: seed {world.seed}, scale {world.scale:g}. {note}".rstrip(),
        "# Client tokens are in the keystore's clients.json; only their SHA-256 is here.",
        "",
    ]
    doc: dict[str, Any] = {
        "gateway": {key: _plain(value) for key, value in gateway.items()},
        "issuer": [
            {
                "iss": issuer.iss,
                "name": issuer.province.name,
                "upload_keys": [b64url(issuer.upload.spki)],
            }
            for issuer in world.issuers.values()
        ],
        "client": [
            {
                "id": client.id,
                "token_sha256": hashlib.sha256(client.token.encode()).hexdigest(),
                "scopes": list(client.scopes),
                "rate": _plain(client.rate),
            }
            for client in world.clients.values()
        ],
    }
    return "\n".join(header) + "\n" + tomli_w.dumps(doc)
