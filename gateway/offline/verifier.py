"""The pure part of an offline verifier: the hub's key, its signed trust list, offline verdicts.

A terminal pins the hub's trust-list key once (:func:`hub_key_from_spki`), then accepts signed
lists (SPEC §6) only when they verify under that key and are not older than the list it holds
(:meth:`OfflineVerifier.offer`), and verifies codes against the held list with the core's own
steps of SPEC §3.1 (``gateway.core.verify.verify``) and no status: the colour is the code's
own, ``status_sv`` is null, and the answer says so (``"offline": true``,
``"status_checked": false``). A list past its ``exp`` still verifies codes, flagged
``"stale": true`` (docs/decisions.md, "Offline verification").

No I/O and no clock, as in ``gateway.core``: bytes and ``now`` come in, values go out.

    OfflineError        the root; its message is one line for a user
    ├── KeyRefused      a hub key that cannot be pinned (does not load, small order, unknown)
    ├── ListRefused     a trust list not accepted; ``why`` is one of the WHY_* strings
    └── NothingHeld     a code to verify but no trust list held yet
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from gateway.core.crypto import PublicKey, key_id, load_public_key, verify_signature
from gateway.core.model import MALFORMED, Alg, Colour, Domain, IssuerCode, KeyId, Verdict
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.core.verify import verify
from gateway.core.wire import (
    Malformed,
    decode_code,
    decode_envelope,
    decode_text,
    encode_b64url,
    is_int,
    unpack_strict,
)
from gateway.errors import InvalidKey, WeakKey

WHY_MALFORMED = "malformed"  # not a trust list envelope, or a payload of the wrong shape
WHY_SIGNER = "signer"  # signed by another key than the pinned one, or not signed by it
WHY_OLDER = "older"  # a lower version than the held list, or an older copy of the same
WHY_CONFLICT = "conflict"  # the held list's version with other contents

_ISS = re.compile(r"[0-9]{6}")
_KEY_FIELDS = frozenset({"iss", "kid", "alg", "spki", "nbf", "naf", "revoked"})
_LIST_FIELDS = frozenset({"version", "iat", "exp", "issuers", "keys"})
_LABEL: dict[Colour | None, str | None] = {None: None, **{c: c.label for c in Colour}}


class OfflineError(Exception):
    """Something an offline verifier refuses; ``str()`` is one line for a user."""


class KeyRefused(OfflineError):
    pass


class ListRefused(OfflineError):
    def __init__(self, why: str, detail: str) -> None:
        super().__init__(detail)
        self.why = why


class NothingHeld(OfflineError):
    pass


def hub_key_from_spki(spki: bytes, alg: str | None = None) -> PublicKey:
    """The hub's key from its DER SPKI; the SPKI names its algorithm (``alg`` must agree)."""
    if alg is not None and alg not in {a.value for a in Alg}:
        raise KeyRefused(f"unknown hub key algorithm {alg!r}")
    problems = []
    for candidate in Alg if alg is None else (Alg(alg),):
        try:
            return load_public_key(candidate, spki)
        except WeakKey as exc:  # an Ed25519 key anyone could forge lists for
            raise KeyRefused(f"refusing to pin the hub key: {exc.detail}") from exc
        except InvalidKey as exc:
            problems.append(f"{candidate.value}: {exc.detail}")
    raise KeyRefused("not a hub key: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class TrustList:
    """A signed trust list that verified under the pinned key, decoded (SPEC §6)."""

    version: int
    iat: int
    exp: int
    trust: TrustSnapshot
    envelope: bytes  # the bytes as the hub signed them, to keep on disk as they are

    def same_registry(self, other: TrustList) -> bool:
        return (self.trust.issuers, self.trust.sorted_keys()) == (
            other.trust.issuers,
            other.trust.sorted_keys(),
        )


@dataclass(frozen=True, slots=True)
class Age:
    """How old a held list is at ``now``: seconds since it was signed, until its ``exp``."""

    seconds: int
    expires_in: int

    @property
    def stale(self) -> bool:
        return self.expires_in <= 0


def age(held: TrustList, now: int) -> Age:
    return Age(now - held.iat, held.exp - now)


def read_trust_list(envelope: bytes, hub_key: PublicKey) -> TrustList:
    """Check the signature under ``hub_key``, then decode the payload; raise ``ListRefused``."""
    try:
        env = decode_envelope(envelope, Domain.TRUST)
    except Malformed as exc:
        raise ListRefused(WHY_MALFORMED, f"not a signed trust list: {exc}") from exc
    if env.kid != hub_key.kid or env.alg is not hub_key.alg:
        raise ListRefused(
            WHY_SIGNER,
            f"the list is signed by {env.alg.value} key {encode_b64url(env.kid)}, not by the "
            f"pinned hub key {hub_key.alg.value} {encode_b64url(hub_key.kid)}",
        )
    if not verify_signature(hub_key, env.signed, env.signature):
        raise ListRefused(WHY_SIGNER, "the list's signature does not verify under the pinned key")
    try:  # signed by the hub, so a bad shape is the hub's bug: refused all the same
        return _decode_payload(env.payload, envelope)
    except (Malformed, InvalidKey, WeakKey) as exc:
        detail = exc.detail if isinstance(exc, InvalidKey | WeakKey) else str(exc)
        raise ListRefused(WHY_MALFORMED, f"the signed list is not a trust list: {detail}") from exc


def _decode_payload(payload: bytes, envelope: bytes) -> TrustList:
    fields = unpack_strict(payload)
    if type(fields) is not dict or set(fields) != _LIST_FIELDS:
        raise Malformed(f"the payload is not a map of {', '.join(sorted(_LIST_FIELDS))}")
    version, iat, exp = fields["version"], fields["iat"], fields["exp"]
    if not (is_int(version) and is_int(iat) and is_int(exp)) or version < 1:
        raise Malformed("version (≥ 1), iat and exp are integers")
    issuers = fields["issuers"]
    if type(issuers) is not list or not all(type(i) is str and _ISS.fullmatch(i) for i in issuers):
        raise Malformed("issuers is not an array of issuer codes")
    if type(fields["keys"]) is not list:
        raise Malformed("keys is not an array")
    records = [_key_record(entry, n) for n, entry in enumerate(fields["keys"])]
    if len({r.kid for r in records}) != len(records):
        raise Malformed("a kid appears twice")
    trust = TrustSnapshot.build(version, (IssuerCode(i) for i in issuers), records)
    return TrustList(version, iat, exp, trust, envelope)


def _key_record(entry: object, n: int) -> KeyRecord:
    if type(entry) is not dict or set(entry) != _KEY_FIELDS:
        raise Malformed(f"keys[{n}] is not a map of {', '.join(sorted(_KEY_FIELDS))}")
    iss, kid, alg, spki = entry["iss"], entry["kid"], entry["alg"], entry["spki"]
    nbf, naf, revoked = entry["nbf"], entry["naf"], entry["revoked"]
    if type(iss) is not str or not _ISS.fullmatch(iss) or type(alg) is not str:
        raise Malformed(f"keys[{n}]: iss and alg are strings")
    if type(kid) is not bytes or type(spki) is not bytes or type(revoked) is not bool:
        raise Malformed(f"keys[{n}]: kid and spki are bin, revoked is a boolean")
    if not (is_int(nbf) and is_int(naf)):
        raise Malformed(f"keys[{n}]: nbf and naf are integers")
    key = load_public_key(alg, spki)
    if key_id(spki) != kid:
        raise Malformed(f"keys[{n}]: kid is not the first 8 bytes of SHA-256 over its spki")
    return KeyRecord(IssuerCode(iss), key, nbf, naf, revoked)


def successor(held: TrustList | None, offered: TrustList) -> TrustList:
    """``offered`` when it may replace ``held``; else ``ListRefused`` (SPEC §6: never older).

    The same version signed again later (the hub re-signs after half a list's life) replaces
    it; an earlier signature of that version is an older copy, and the same version with other
    keys or issuers means the hub's history forked, which a terminal must not paper over.
    """
    if held is None:
        return offered
    if offered.version < held.version:
        raise ListRefused(
            WHY_OLDER,
            f"the list is version {offered.version}, older than version {held.version} held",
        )
    if offered.version == held.version:
        if not offered.same_registry(held):
            raise ListRefused(
                WHY_CONFLICT,
                f"the list is version {offered.version} with other keys than the version "
                f"{held.version} held: the hub's registry forked",
            )
        if offered.iat < held.iat:
            raise ListRefused(
                WHY_OLDER,
                f"the list is an older copy of version {held.version} (signed at "
                f"{offered.iat}, the one held at {held.iat})",
            )
    return offered


def render(verdict: Verdict, held: TrustList, now: int) -> dict[str, Any]:
    """SPEC §3.2's ten fields in order, then what says the verdict was given offline."""
    return {
        "valid": verdict.valid,
        "reason": None if verdict.reason is None else verdict.reason.value,
        "iss": verdict.iss,
        "kid": None if verdict.kid is None else encode_b64url(verdict.kid),
        "cid": None if verdict.cid is None else encode_b64url(verdict.cid),
        "colour": _LABEL[verdict.colour],
        "code_colour": _LABEL[verdict.code_colour],
        "status_sv": verdict.status_sv,
        "exp": verdict.exp,
        "nm": verdict.nm,
        "offline": True,
        "status_checked": False,
        "trust_list_version": held.version,
        "stale": age(held, now).stale,
    }


def verify_offline(code: bytes | str, held: TrustList, now: int) -> dict[str, Any]:
    """One code (envelope bytes, or its ``HCM1:`` text exactly) against ``held`` at ``now``."""
    try:
        decoded = decode_code(decode_text(code) if isinstance(code, str) else code)
    except Malformed:
        return render(MALFORMED, held, now)
    return render(verify(decoded, held.trust, now, None), held, now)


class OfflineVerifier:
    """A terminal's verifier: the pinned hub key and the newest list it has accepted."""

    def __init__(self, hub_key: PublicKey, held: TrustList | None = None) -> None:
        self.hub_key = hub_key
        self.held = held

    @property
    def kid(self) -> KeyId:
        return self.hub_key.kid

    def offer(self, envelope: bytes) -> TrustList:
        """Accept a signed list that verifies and is not older; ``ListRefused`` otherwise."""
        self.held = successor(self.held, read_trust_list(envelope, self.hub_key))
        return self.held

    def verify(self, code: bytes | str, now: int) -> dict[str, Any]:
        if self.held is None:
            raise NothingHeld("no trust list is held yet: fetch one first")
        return verify_offline(code, self.held, now)


def read_hub_key(data: bytes) -> PublicKey:
    """A hub key as a user may hold it: the JSON of ``GET /v1/trustlist/key``, a PEM public
    key, DER, or the SPKI in base64url on its own (surrounding whitespace ignored)."""
    text = data.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
            alg, spki = doc["alg"], _b64url_decode(doc["spki"])
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyRefused('not the JSON of /v1/trustlist/key ({"alg", "spki"})') from exc
        return hub_key_from_spki(spki, str(alg))
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        body = "".join(text.splitlines()[1:-1])
        try:
            return hub_key_from_spki(base64.b64decode(body, validate=True))
        except binascii.Error as exc:
            raise KeyRefused("a PEM public key whose body is not base64") from exc
    if data[:1] == b"\x30":  # DER: a SEQUENCE
        return hub_key_from_spki(data)
    try:
        return hub_key_from_spki(_b64url_decode(text))
    except ValueError as exc:
        raise KeyRefused("not a hub key: neither JSON, PEM, DER nor base64url SPKI") from exc


def _b64url_decode(text: object) -> bytes:
    if type(text) is not str or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_doc(key: PublicKey) -> dict[str, str]:
    """The key as ``GET /v1/trustlist/key`` writes it, which is also how a store keeps it."""
    return {"alg": key.alg.value, "spki": encode_b64url(key.spki)}
