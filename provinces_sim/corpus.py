"""The load-test corpus (docs/corpus.md): valid and invalid codes with what the hub must say.

    DIR/manifest.json    format, seed, created_at, not_after, issuers, counts, client tokens
    DIR/hcgw.toml        the hub's config for this world (no listen or redis_url lines)
    DIR/keystore/        keys, secrets, tokens and the statuses ``prime`` pushes
    DIR/codes.msgpack    concatenated maps {"code": bin, "iss": str, "expect": {...}}

Every expectation comes from the same oracle the scenario uses, over the hub's state after
``prime``: each issuer's keys registered (some revoked) and the statuses pushed. The corpus is
built so that its expectations do not depend on when it is used, from ``created_at`` until
``not_after``: valid codes all expire later, expired codes expired before, not-yet-valid codes
start two days later. The writer checks that by asking the oracle at both ends.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provinces_sim import keystore
from provinces_sim.census import DEFAULT_SCALE
from provinces_sim.codes import CodeTruth, IssuedCode, Kind
from provinces_sim.crypto import SigningKey
from provinces_sim.errors import CorpusError
from provinces_sim.forgery import BASE_KINDS, Forger
from provinces_sim.issuer import CodeKey, Issuer, KeyState, Resident
from provinces_sim.keystore import Event
from provinces_sim.opconfig import hub_config
from provinces_sim.oracle import FixedStatuses, HubModel, KeyFact, Verdict, expect
from provinces_sim.wire import MAX_CODE_LIFETIME, pack
from provinces_sim.world import LOAD_CLIENT, TRUST_CLIENT, World

FORMAT = "hcgw-corpus"
VERSION = 1
MANIFEST = "manifest.json"
CODES = "codes.msgpack"
KEY_DAYS = 90  # corpus keys stay usable this long, so a corpus can be reused for days
# Invalid kinds in a corpus, with weights; the revoked-key kind is issued afresh per code.
CORPUS_KINDS: dict[Kind, float] = {**BASE_KINDS, Kind.REPLAYED_REVOKED: 4}


@dataclass(frozen=True, slots=True)
class CorpusOptions:
    codes: int = 10_000
    invalid_share: float = 0.1
    seed: int = 0
    lifetime: int = 43_200
    scale: float = DEFAULT_SCALE

    def check(self) -> None:
        if self.codes < 1:
            raise CorpusError("--codes must be at least 1")
        if not 0 <= self.invalid_share <= 1:
            raise CorpusError("--invalid-share is a fraction between 0 and 1")
        if not 600 < self.lifetime <= MAX_CODE_LIFETIME:
            raise CorpusError(f"--lifetime must be over 600 s and at most {MAX_CODE_LIFETIME}")


def _corpus_keys(world: World, rng: random.Random, now: int) -> dict[str, SigningKey]:
    """Each issuer: a retired and an active key; about a quarter also a revoked one."""
    revoked: dict[str, SigningKey] = {}
    compromised = set(rng.sample(sorted(world.issuers), max(1, len(world.issuers) // 4)))
    for issuer in world.issuers.values():

        def key(state: KeyState, alg: str = issuer.alg) -> CodeKey:
            return CodeKey(SigningKey.generate(alg), now - 2 * 86_400, now + KEY_DAYS * 86_400,
                           state)  # fmt: skip

        issuer.code_keys = [key(KeyState.RETIRED)]
        if issuer.iss in compromised:
            issuer.code_keys.append(key(KeyState.REVOKED))
            revoked[issuer.iss] = issuer.code_keys[-1].key
        issuer.code_keys.append(key(KeyState.ACTIVE))
    return revoked


def _statuses(world: World, rng: random.Random, now: int) -> dict[str, list[Event]]:
    """Every resident's status; about 90% of them are pushed to the hub by ``prime``."""
    events: dict[str, list[Event]] = {}
    for issuer in world.issuers.values():
        events[issuer.iss] = []
        for r in issuer.residents:
            roll = rng.random()
            r.colour = 0 if roll < 0.85 else 1 if roll < 0.95 else 2
            r.sv = rng.randint(1, 6)
            if rng.random() < 0.9:
                events[issuer.iss].append([r.sub, r.colour, r.sv, now])
    return events


def _model(world: World, statuses: dict[str, list[Event]]) -> HubModel:
    model = HubModel(frozenset(world.issuers))
    for issuer in world.issuers.values():
        for k in issuer.code_keys:
            model.keys[k.key.kid] = KeyFact(
                issuer.iss, k.key.alg, k.nbf, k.naf, revoked=k.state is KeyState.REVOKED
            )
        model.statuses[issuer.iss] = FixedStatuses(
            {sub: (colour, sv) for sub, colour, sv, _at in statuses[issuer.iss]}
        )
    return model


class _Maker:
    def __init__(self, world: World, options: CorpusOptions, now: int) -> None:
        self.world = world
        self.options = options
        self.now = now
        self.rng = random.Random(f"{options.seed}:corpus")
        self.revoked = _corpus_keys(world, self.rng, now)
        world.populate()
        self.statuses = _statuses(world, self.rng, now)
        self.model = _model(world, self.statuses)
        self.forger = Forger(world.issuers, self.rng, options.lifetime, future_offset=2 * 86_400)
        self.residents = world.residents()

    def _pick(self) -> tuple[Issuer, Resident]:
        r = self.residents[self.rng.randrange(len(self.residents))]
        return self.world.issuers[r.iss], r

    def valid(self) -> IssuedCode:
        issuer, r = self._pick()
        rng, roll = self.rng, self.rng.random()
        col, sv = r.colour, r.sv
        if roll < 0.10:  # an older code: the hub's newer status decides its colour
            col, sv = rng.randint(0, 2), r.sv - 1
        elif roll < 0.20:  # newer than the status pushed: the code's own colour decides
            col, sv = rng.randint(0, 2), r.sv + 1
        key = issuer.code_keys[0 if rng.random() < 0.1 else -1].key  # retired or active
        iat = self.now - rng.randint(0, 600)
        return issuer.issue(r, self.now, self.options.lifetime, key=key, iat=iat, col=col, sv=sv)

    def invalid(self) -> tuple[IssuedCode, str]:
        kind = self.rng.choices(list(CORPUS_KINDS), weights=list(CORPUS_KINDS.values()))[0]
        if kind is Kind.REPLAYED_REVOKED:
            iss = self.rng.choice(sorted(self.revoked))
            issuer = self.world.issuers[iss]
            r = issuer.residents[self.rng.randrange(len(issuer.residents))]
            iat = self.now - self.rng.randint(0, 600)
            code = issuer.issue(
                r, self.now, self.options.lifetime, kind=kind, key=self.revoked[iss], iat=iat
            )
            return code, iss
        issuer, r = self._pick()
        code = self.forger.make(kind, issuer, r, self.now)
        claims = code.truth.claims
        return code, claims.iss if claims is not None else issuer.iss


def _expect_field(verdict: Verdict) -> dict[str, Any]:
    return {"valid": verdict["valid"], "reason": verdict["reason"], "colour": verdict["colour"]}


def write_corpus(out: Path, options: CorpusOptions, *, now: int | None = None) -> dict[str, Any]:
    """Write the corpus into ``out`` (new or empty); → the manifest."""
    options.check()
    if out.exists() and any(out.iterdir()):
        raise CorpusError(f"{out} is not empty: choose another --out or remove it")
    out.mkdir(parents=True, exist_ok=True)
    created_at = int(time.time()) if now is None else now
    world = World.create(seed=options.seed, scale=options.scale, now=created_at)
    maker = _Maker(world, options, created_at)
    n_invalid = round(options.codes * options.invalid_share)
    invalid_at = set(maker.rng.sample(range(options.codes), n_invalid))
    by_expect: Counter[str] = Counter()
    not_after: int | None = None
    records: list[tuple[CodeTruth, dict[str, Any]]] = []  # for the check at the end
    with open(out / CODES, "wb") as stream:
        for i in range(options.codes):
            if i in invalid_at:
                code, iss = maker.invalid()
            else:
                code = maker.valid()
                assert code.truth.claims is not None  # a valid code always has claims
                iss = code.truth.claims.iss
                exp = code.truth.claims.exp
                not_after = exp if not_after is None else min(not_after, exp)
            verdict = expect(code, maker.model, created_at)
            if verdict["valid"] == (i in invalid_at):
                raise AssertionError(f"corpus code {i} ({code.truth.kind}) came out {verdict}")
            by_expect[verdict["colour"] if verdict["valid"] else verdict["reason"]] += 1
            records.append((code.truth, _expect_field(verdict)))
            stream.write(
                pack({"code": code.envelope, "iss": iss, "expect": _expect_field(verdict)})
            )
    last = (not_after if not_after is not None else created_at + options.lifetime) - 1
    for truth, expected in records:  # the same answers at the end of the window
        if _expect_field(expect(IssuedCode(b"", truth), maker.model, last)) != expected:
            raise AssertionError(f"a {truth.kind} code's expectation changes before not_after")
    world.save(out / "keystore")
    keystore.save_statuses(out / "keystore", maker.statuses)
    (out / "hcgw.toml").write_text(
        hub_config(
            world,
            {},
            note="For a load-test corpus: pass --listen and --redis-url to `hcgw serve`.",
        ),
        encoding="utf-8",
    )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "seed": options.seed,
        "created_at": created_at,
        "not_after": last + 1,
        "lifetime": options.lifetime,
        "scale": options.scale,
        "issuers": sorted(world.issuers),
        "counts": {
            "codes": options.codes,
            "valid": options.codes - n_invalid,
            "invalid": n_invalid,
            "by_expect": dict(sorted(by_expect.items())),
        },
        "client": _client(world, LOAD_CLIENT),
        "trust_client": _client(world, TRUST_CLIENT),
    }
    # 0600: the manifest carries the bearer tokens of the two clients (docs/corpus.md).
    keystore.write_private(out / MANIFEST, json.dumps(manifest, indent=1).encode())
    return manifest


def _client(world: World, client_id: str) -> dict[str, str]:
    client = world.clients[client_id]
    return {"id": client.id, "token": client.token}


def read_manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusError(f"{directory} holds no {MANIFEST}: not a corpus") from None
    except ValueError as exc:
        raise CorpusError(f"{directory / MANIFEST}: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise CorpusError(f"{directory / MANIFEST} is not a version {VERSION} {FORMAT}")
    return manifest
