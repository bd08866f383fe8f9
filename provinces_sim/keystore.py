"""The keystore: a directory holding the simulated world's private keys, secrets and tokens.

    keystore.json      issuers: upload key, pseudonym secret, code-signing keys and their state
    clients.json       verifier clients: id, kind, scopes, rate and the bearer token
    statuses.msgpack   (corpus keystores only) the status events ``prime`` pushes, per issuer

Files are written 0600 in a 0700 directory, atomically (write, fsync, rename). The default
place is ./var/sim/keystore, which .gitignore keeps out of the repository. Nothing here holds
an ID number: residents are drawn again from the seed, and only their pseudonyms are stored
(in statuses.msgpack).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from provinces_sim.census import BY_ISS
from provinces_sim.crypto import SigningKey
from provinces_sim.errors import KeystoreError
from provinces_sim.issuer import CodeKey, Issuer, KeyState
from provinces_sim.wire import b64url

FORMAT = "hcgw-sim-keystore"
VERSION = 1
KEYSTORE = "keystore.json"
CLIENTS = "clients.json"
STATUSES = "statuses.msgpack"

Event = list[Any]  # [sub bin16, col, sv, at], as SPEC §4 sends it


@dataclass(frozen=True, slots=True)
class Client:
    """A verifier client enrolled with the hub (SPEC §5)."""

    id: str
    kind: str  # terminal, rail, aviation, load, mirror
    home: str | None  # the province whose terminals these are
    scopes: tuple[str, ...]
    rate: float
    token: str


@dataclass(frozen=True, slots=True)
class Contents:
    issuers: dict[str, Issuer]
    clients: dict[str, Client]
    seed: int
    scale: float
    created_at: int


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by its owner only, atomically (write, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save(directory: Path, contents: Contents) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "seed": contents.seed,
        "scale": contents.scale,
        "created_at": contents.created_at,
        "issuers": [
            {
                "iss": issuer.iss,
                "upload_key": issuer.upload.to_pem().decode(),
                "pseudonym_secret": issuer.secret.hex(),
                "code_keys": [
                    {
                        "kid": b64url(k.key.kid),
                        "alg": k.key.alg,
                        "nbf": k.nbf,
                        "naf": k.naf,
                        "state": k.state.value,
                        "private_key": k.key.to_pem().decode(),
                    }
                    for k in issuer.code_keys
                ],
            }
            for issuer in contents.issuers.values()
        ],
    }
    clients = {
        "format": FORMAT + "-clients",
        "version": VERSION,
        "clients": [
            {
                "id": c.id,
                "kind": c.kind,
                "home": c.home,
                "scopes": list(c.scopes),
                "rate": c.rate,
                "token": c.token,
            }
            for c in contents.clients.values()
        ],
    }
    write_private(directory / KEYSTORE, json.dumps(doc, indent=1).encode())
    write_private(directory / CLIENTS, json.dumps(clients, indent=1).encode())


def save_statuses(directory: Path, statuses: Mapping[str, Sequence[Event]]) -> None:
    write_private(directory / STATUSES, msgpack.packb(dict(statuses), use_bin_type=True))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeystoreError(f"no keystore at {path.parent} ({path.name} is missing)") from None
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read {path}: {exc}") from exc


def load(directory: Path) -> Contents:
    doc = _read_json(directory / KEYSTORE)
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise KeystoreError(f"{directory / KEYSTORE} is not a version {VERSION} {FORMAT}")
    try:
        issuers = {}
        for raw in doc["issuers"]:
            keys = [
                CodeKey(
                    SigningKey.from_pem(k["private_key"].encode()),
                    int(k["nbf"]),
                    int(k["naf"]),
                    KeyState(k["state"]),
                )
                for k in raw["code_keys"]
            ]
            issuer = Issuer(
                BY_ISS[raw["iss"]],
                SigningKey.from_pem(raw["upload_key"].encode()),
                bytes.fromhex(raw["pseudonym_secret"]),
                keys,
            )
            issuers[issuer.iss] = issuer
        clients_doc = _read_json(directory / CLIENTS)
        clients = {
            c["id"]: Client(
                c["id"], c["kind"], c["home"], tuple(c["scopes"]), float(c["rate"]), c["token"]
            )
            for c in clients_doc["clients"]
        }
        return Contents(
            issuers, clients, int(doc["seed"]), float(doc["scale"]), int(doc["created_at"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise KeystoreError(f"{directory}: malformed keystore: {exc!r}") from exc


def load_statuses(directory: Path) -> dict[str, list[Event]]:
    try:
        raw = (directory / STATUSES).read_bytes()
    except FileNotFoundError:
        return {}
    try:
        statuses: dict[str, list[Event]] = msgpack.unpackb(raw, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise KeystoreError(f"{directory / STATUSES}: not msgpack: {exc}") from exc
    return statuses
