"""The load-test corpus (docs/corpus.md): its manifest agrees with its stream, its config loads
in the gateway, and after ``prime`` a real gateway answers every code as the corpus expects."""

from __future__ import annotations

import hashlib
import json
import stat
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import msgpack
import pytest

from gateway.config import parse_settings
from gateway.core.wire import Malformed, decode_code
from provinces_sim.census import BY_ISS, ES256, SM2
from provinces_sim.corpus import CorpusOptions, write_corpus
from provinces_sim.crypto import SM2_N, verify
from provinces_sim.errors import CorpusError
from provinces_sim.hub import HubApi
from provinces_sim.hubproc import HubProcess
from provinces_sim.keystore import Client
from provinces_sim.prime import prime
from provinces_sim.world import World

OPTIONS = CorpusOptions(codes=2_000, invalid_share=0.2, seed=3, lifetime=3_600, scale=2e-6)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "c"
    write_corpus(out, OPTIONS)
    return out


def records(corpus: Path) -> list[dict[str, Any]]:
    with open(corpus / "codes.msgpack", "rb") as stream:
        return list(msgpack.Unpacker(stream, raw=False))


def test_the_manifest_counts_match_the_stream(corpus: Path) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    stream = records(corpus)
    assert manifest["format"] == "hcgw-corpus" and manifest["version"] == 1
    assert manifest["seed"] == 3 and len(manifest["issuers"]) == 32
    by_expect = Counter(
        r["expect"]["colour"] if r["expect"]["valid"] else r["expect"]["reason"] for r in stream
    )
    valid = [r for r in stream if r["expect"]["valid"]]
    assert manifest["counts"] == {
        "codes": 2_000,
        "valid": len(valid),
        "invalid": 2_000 - len(valid),
        "by_expect": dict(by_expect),
    }
    assert manifest["counts"]["invalid"] == 400
    assert {"green", "yellow", "red", "KEY_REVOKED", "ISSUER_KEY_MISMATCH"} <= set(by_expect)
    for r in stream:
        assert set(r) == {"code", "iss", "expect"} and isinstance(r["code"], bytes)
        assert set(r["expect"]) == {"valid", "reason", "colour"}
        assert (r["expect"]["reason"] is None) == r["expect"]["valid"]
        assert (r["expect"]["colour"] is None) != r["expect"]["valid"]
    exps = [decode_code(r["code"]).exp for r in valid]
    assert manifest["not_after"] == min(exps)
    assert manifest["created_at"] < manifest["not_after"] <= manifest["created_at"] + 3_600


def _sm2_shapes(corpus: Path) -> Counter[str]:
    """How many of each SM2 kind the stream holds, told from the bytes and the expectation."""
    world = World.open(corpus / "keystore")
    sm2_keys = [k.key for i in world.issuers.values() if i.alg == SM2 for k in i.code_keys]
    shapes: Counter[str] = Counter()
    for r in records(corpus):
        try:
            code = decode_code(r["code"])
        except Malformed:
            continue
        if r["iss"] not in BY_ISS:  # an unenrolled issuer's
            continue
        head, sig, claimed = code.envelope, code.envelope.signature, BY_ISS[r["iss"]].alg
        reason = r["expect"]["reason"]
        rs = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        if claimed == SM2 and head.alg.value == SM2:
            if r["expect"]["valid"]:
                shapes[f"valid {r['expect']['colour']}"] += 1
            elif rs[0] == 0:
                shapes[f"r = 0: {reason}"] += 1
            elif rs[1] >= SM2_N:
                shapes[f"s >= n: {reason}"] += 1
            else:
                shapes[reason] += 1
        elif claimed == SM2 and head.alg.value == ES256:
            shapes[f"SM2 code, header ES256: {reason}"] += 1
        elif (
            claimed == ES256
            and head.alg.value == ES256
            and any(verify(SM2, k.spki, head.signed, sig) for k in sm2_keys)
        ):
            shapes[f"SM2 signature under an ES256 key: {reason}"] += 1
    return shapes


def test_the_corpus_holds_sm2_codes_of_every_kind_with_the_verdicts_spec_gives(
    corpus: Path,
) -> None:
    shapes = _sm2_shapes(corpus)
    assert {
        "valid green", "valid yellow", "valid red",
        "r = 0: BAD_SIGNATURE", "s >= n: BAD_SIGNATURE",
        "SM2 code, header ES256: ALG_MISMATCH",
        "SM2 signature under an ES256 key: BAD_SIGNATURE",
        "BAD_SIGNATURE", "EXPIRED", "NOT_YET_VALID", "KEY_NOT_VALID", "UNKNOWN_KID", "KEY_REVOKED",
        "ISSUER_KEY_MISMATCH",
    } <= set(shapes), shapes  # fmt: skip
    # nothing else: an out-of-range or cross-algorithm SM2 signature is never anything but that
    assert {k for k in shapes if ":" in k} == {
        "r = 0: BAD_SIGNATURE", "s >= n: BAD_SIGNATURE", "SM2 code, header ES256: ALG_MISMATCH",
        "SM2 signature under an ES256 key: BAD_SIGNATURE",
    }  # fmt: skip


def test_the_config_enrols_the_corpus_world_and_holds_only_token_digests(corpus: Path) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    text = (corpus / "hcgw.toml").read_text()
    doc = tomllib.loads(text)
    assert "listen" not in doc["gateway"] and "redis_url" not in doc["gateway"]
    settings = parse_settings(doc, {})
    assert sorted(i.iss for i in settings.issuers) == manifest["issuers"]
    clients = {c.id: c for c in settings.clients}
    for role, scope in (("client", "verify"), ("trust_client", "trustlist")):
        token = manifest[role]["token"]
        assert len(token) >= 22 and token not in text  # 128 bits or more, never in the config
        enrolled = clients[manifest[role]["id"]]
        assert enrolled.token_sha256 == hashlib.sha256(token.encode()).digest()
        assert scope in enrolled.scopes
    assert clients[manifest["client"]["id"]].rate >= 10_000_000
    assert stat.S_IMODE((corpus / "manifest.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((corpus / "keystore" / "keystore.json").stat().st_mode) == 0o600


async def test_a_primed_gateway_answers_every_code_as_the_corpus_expects(
    corpus: Path, redis_url: str, tmp_path: Path
) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    gateway = HubProcess(corpus / "hcgw.toml", tmp_path, redis_url=redis_url)
    await gateway.start()
    try:
        first = await prime(corpus, gateway.url)
        again = await prime(corpus, gateway.url)
        client = Client(manifest["client"]["id"], "load", None, ("verify",), 1e7,
                        manifest["client"]["token"])  # fmt: skip
        stream = records(corpus)
        sm2 = sum(r["iss"] in BY_ISS and BY_ISS[r["iss"]].alg == SM2 for r in stream)
        wrong = []
        async with HubApi(gateway.url) as hub:
            for start in range(0, len(stream), 1_000):
                chunk = stream[start : start + 1_000]
                verdicts = await hub.verify_batch(client, [r["code"] for r in chunk])
                for r, v in zip(chunk, verdicts, strict=True):
                    got = {"valid": v["valid"], "reason": v["reason"], "colour": v["colour"]}
                    if got != r["expect"]:
                        wrong.append((r["expect"], got))
    finally:
        await gateway.stop()
    assert wrong == [] and sm2 > 300  # the SM2 issuers' codes among them
    assert first.keys_added == again.keys_held > 64 and again.keys_added == 0
    assert first.revoked == again.revoked >= 8
    assert first.events == again.events > 0 and first.not_after == manifest["not_after"]
    assert time.time() < manifest["not_after"]


def test_a_corpus_is_never_written_over_another(corpus: Path) -> None:
    with pytest.raises(CorpusError, match="is not empty"):
        write_corpus(corpus, OPTIONS)


@pytest.mark.parametrize("lifetime", [600, 86_401])
def test_a_lifetime_outside_what_spec_allows_is_refused(tmp_path: Path, lifetime: int) -> None:
    with pytest.raises(CorpusError, match="--lifetime"):
        write_corpus(tmp_path / "c", CorpusOptions(codes=10, lifetime=lifetime))
