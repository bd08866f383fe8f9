"""A small corpus in the simulator's documented format (``hcgw-corpus`` version 1), for tests.

``provinces_sim corpus`` is the real source; this helper writes the same files from
``tests/factory.py`` so the harness can be tested end to end without it: ``manifest.json``,
``hcgw.toml`` (no listen or redis_url) and ``codes.msgpack``. ``prime`` registers the code
keys and pushes the statuses through the hub's management API, as ``provinces_sim prime`` does;
``primed_hub`` starts a gateway for a new corpus and primes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from factory import BJ, GD, HB, World, b64
from gateway.core.crypto import generate_private_key, spki_of
from gateway.core.model import Alg
from load_tests.processes import Server, gateway

TOKEN = "load-test-" + "e" * 40


@dataclass
class MadeCorpus:
    path: Path
    world: World
    statuses: dict[str, list[list[Any]]]  # iss → status events to push
    now: int


def write_corpus(
    path: Path, *, valid: int = 60, invalid: int = 20, lifetime: int = 3600, seed: int = 7
) -> MadeCorpus:
    """``valid`` valid codes (green/yellow/red, some with a newer stored status) and
    ``invalid`` invalid ones (bad signature, unknown kid, expired, malformed) in turn."""
    path.mkdir(parents=True, exist_ok=True)
    world = World.make()
    now = int(time.time())
    items: list[dict[str, Any]] = []
    statuses: dict[str, list[list[Any]]] = {}
    issuers = [GD, BJ, HB]
    for i in range(valid):
        iss = issuers[i % 3]
        sub = hashlib.sha256(f"{seed}/{i}".encode()).digest()[:16]
        col = i % 3
        colour = ("green", "yellow", "red")[col]
        if i % 5 == 0:  # the hub holds a newer status: it decides the colour
            statuses.setdefault(iss, []).append([sub, 2, 5, now])
            colour = "red"
        code = world.code(iss, iat=now - 60, exp=now + lifetime, col=col, sv=1, sub=sub)
        items.append(_item(code, iss, True, None, colour))
    stranger = generate_private_key(Alg.ED25519)
    for i in range(invalid):
        iss = issuers[i % 3]
        kind = i % 4
        if kind == 0:
            flipped = bytearray(world.code(iss, iat=now - 60, exp=now + lifetime))
            flipped[-1] ^= 1  # the signature's last byte
            items.append(_item(bytes(flipped), iss, False, "BAD_SIGNATURE", None))
        elif kind == 1:
            code = world.code(iss, key=stranger, iat=now - 60, exp=now + lifetime)
            items.append(_item(code, iss, False, "UNKNOWN_KID", None))
        elif kind == 2:
            code = world.code(iss, iat=now - 7200, exp=now - 3600)
            items.append(_item(code, iss, False, "EXPIRED", None))
        else:
            items.append(_item(b"\x93\xc4\x00" + os.urandom(8), iss, False, "MALFORMED", None))
    # Valid and invalid interleaved, deterministically.
    order = sorted(range(len(items)), key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).digest())
    with open(path / "codes.msgpack", "wb") as f:
        for n in order:
            f.write(msgpack.packb(items[n], use_bin_type=True))
    by_expect: dict[str, int] = {}
    for item in items:
        e = item["expect"]
        key = e["colour"] if e["valid"] else e["reason"]
        by_expect[key] = by_expect.get(key, 0) + 1
    manifest = {
        "format": "hcgw-corpus",
        "version": 1,
        "seed": seed,
        "created_at": now,
        "not_after": now + lifetime,
        "issuers": issuers,
        "counts": {
            "codes": len(items),
            "valid": valid,
            "invalid": invalid,
            "by_expect": by_expect,
        },
        "client": {"id": "load-test", "token": TOKEN},
        "trust_client": {},
    }
    (path / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (path / "hcgw.toml").write_text(_config(world))
    (path / "keystore").mkdir(exist_ok=True)
    return MadeCorpus(path, world, statuses, now)


def _item(
    code: bytes, iss: str, valid: bool, reason: str | None, colour: str | None
) -> dict[str, Any]:
    return {
        "code": code,
        "iss": iss,
        "expect": {"valid": valid, "reason": reason, "colour": colour},
    }


def _config(world: World) -> str:
    lines = []
    for issuer in world.issuers.values():
        lines += [
            "[[issuer]]",
            f'iss = "{issuer.iss}"',
            f'upload_keys = ["{b64(spki_of(issuer.upload))}"]',
            "",
        ]
    lines += [
        "[[client]]",
        'id = "load-test"',
        f'token_sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"',
        'scopes = ["verify", "trustlist"]',
        "rate = 1000000",
        "",
    ]
    return "\n".join(lines)


def prime(corpus: MadeCorpus, hub: str) -> None:
    """Register every issuer's code key, push the statuses (as ``provinces_sim prime`` does)."""
    world, now = corpus.world, int(time.time())
    for iss in world.issuers:
        add = world.key_add(iss, now=now, nbf=now - 86_400, naf=now + 30 * 86_400)
        _post(f"{hub}/v1/issuers/{iss}/keys", add)
    for iss, events in corpus.statuses.items():
        _post(f"{hub}/v1/issuers/{iss}/status", world.status(iss, events, now=now))


def _post(url: str, body: bytes) -> None:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/msgpack"})  # noqa: S310 - http, loopback hub
    with urllib.request.urlopen(req, timeout=10) as answer:  # noqa: S310 - as above
        assert answer.status in (200, 201), answer.status


@contextmanager
def primed_hub(
    base: Path, *, valid: int = 300, invalid: int = 100
) -> Iterator[tuple[Server, MadeCorpus]]:
    """A gateway for a fresh corpus of ``valid`` + ``invalid`` codes, primed, on loopback."""
    corpus = write_corpus(base / "corpus", valid=valid, invalid=invalid)
    server = gateway(corpus.path / "hcgw.toml", base / "gateway").start()
    try:
        prime(corpus, server.url)
        yield server, corpus
    finally:
        server.stop()


def corpus_token(corpus: MadeCorpus) -> str:
    return str(json.loads((corpus.path / "manifest.json").read_text())["client"]["token"])
