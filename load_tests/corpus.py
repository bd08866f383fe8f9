"""Reading the simulator's corpus (``python -m provinces_sim corpus --out DIR``), format version 1.

A corpus directory holds ``manifest.json`` (format, version, seed, counts, the load-test
client's token, …), ``hcgw.toml`` (the gateway configuration for that world), ``keystore/``
and ``codes.msgpack``: concatenated msgpack maps ``{"code": bin, "iss": str, "expect":
{"valid": bool, "reason": str | null, "colour": str | null}}``. This module reads only that
documented format: the harness never builds codes itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

FORMAT = "hcgw-corpus"
VERSION = 1

# Whether the hub can cache a code's signature outcome (docs/caching.md): only when the key is
# found and the code has not expired, i.e. the steps before the signature pass. A repeat of one
# of these codes is an expected cache hit; a repeat of any other code is an expected miss.
_CACHEABLE_REASONS = frozenset({None, "BAD_SIGNATURE", "NOT_YET_VALID"})


class CorpusError(ValueError):
    """The directory is not a corpus this harness can read; the message says why."""


@dataclass(frozen=True, slots=True)
class Expectation:
    valid: bool
    reason: str | None
    colour: str | None

    @property
    def outcome(self) -> str:
        """The gateway's ``hcgw_verifications_total`` outcome label for this verdict."""
        if self.valid:
            return self.colour or "unknown"
        return (self.reason or "MALFORMED").lower()

    @property
    def cacheable(self) -> bool:
        return self.reason in _CACHEABLE_REASONS


@dataclass(frozen=True, slots=True)
class CorpusCode:
    code: bytes  # the envelope, as a verifier posts it with application/msgpack
    iss: str
    expect: Expectation


@dataclass(frozen=True, slots=True)
class Corpus:
    path: Path
    manifest: dict[str, Any]
    codes: tuple[CorpusCode, ...]

    @property
    def token(self) -> str:
        return str(self.manifest["client"]["token"])

    @property
    def config(self) -> Path:
        return self.path / "hcgw.toml"

    @property
    def not_after(self) -> int | None:
        value = self.manifest.get("not_after")
        return int(value) if value is not None else None


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((path / "manifest.json").read_text("utf-8"))
    except FileNotFoundError as exc:
        raise CorpusError(f"{path}: no manifest.json (make one with provinces_sim corpus)") from exc
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}/manifest.json: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise CorpusError(
            f"{path}: format {manifest.get('format')!r} version {manifest.get('version')!r}, "
            f"expected {FORMAT!r} version {VERSION}"
        )
    return manifest


def load_corpus(path: str | Path, *, limit: int | None = None) -> Corpus:
    """Read a corpus; ``limit`` stops after that many codes."""
    path = Path(path)
    manifest = load_manifest(path)
    codes: list[CorpusCode] = []
    with open(path / "codes.msgpack", "rb") as f:
        for n, item in enumerate(msgpack.Unpacker(f, raw=False)):
            if limit is not None and n >= limit:
                break
            try:
                expect = item["expect"]
                codes.append(
                    CorpusCode(
                        bytes(item["code"]),
                        str(item["iss"]),
                        Expectation(bool(expect["valid"]), expect["reason"], expect["colour"]),
                    )
                )
            except (KeyError, TypeError) as exc:
                raise CorpusError(f"{path}/codes.msgpack item {n}: {exc!r}") from exc
    if not codes:
        raise CorpusError(f"{path}/codes.msgpack holds no codes")
    return Corpus(path, manifest, tuple(codes))
