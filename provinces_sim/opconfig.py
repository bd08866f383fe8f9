"""Operator tooling: the hub's TOML configuration for the simulated world (SPEC §8).

One ``[[issuer]]`` per province with its upload key (base64url DER SPKI), one ``[[client]]``
per verifier client with the SHA-256 of its token, its scopes and its rate. Tokens themselves
stay in the keystore's clients.json; only their digests are written here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from provinces_sim.wire import b64url
from provinces_sim.world import World

GatewayValue = str | int | float | bool


def _toml(value: GatewayValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def hub_config(world: World, gateway: Mapping[str, GatewayValue], *, note: str = "") -> str:
    lines = [
        "# The hub's configuration for the simulated world of provinces_sim (SPEC §8).",
        f"# Written from the keystore: seed {world.seed}, scale {world.scale:g}. {note}".rstrip(),
        "# Client tokens are in the keystore's clients.json; only their SHA-256 is here.",
        "",
        "[gateway]",
        *(f"{key} = {_toml(value)}" for key, value in gateway.items()),
        "",
    ]
    for issuer in world.issuers.values():
        lines += [
            "[[issuer]]",
            f"iss = {_toml(issuer.iss)}",
            f"name = {_toml(issuer.province.name)}",
            f"upload_keys = [{_toml(b64url(issuer.upload.spki))}]",
            "",
        ]
    for client in world.clients.values():
        lines += [
            "[[client]]",
            f"id = {_toml(client.id)}",
            f"token_sha256 = {_toml(hashlib.sha256(client.token.encode()).hexdigest())}",
            f"scopes = [{', '.join(_toml(s) for s in client.scopes)}]",
            f"rate = {_toml(client.rate)}",
            "",
        ]
    return "\n".join(lines)
