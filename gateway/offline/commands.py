"""``hcgw trustlist fetch|show`` and ``hcgw verify --offline``: a terminal's command line.

    hcgw trustlist fetch --url URL [--token T] [--key FILE | --key-spki B64URL | --pin]
    hcgw trustlist show
    hcgw verify --offline CODE… (or - for one code a line on stdin)

All take ``--store DIR`` (default ``$HCGW_OFFLINE_DIR`` or ./var/offline) and ``--json``.
Exit codes: 0 done (verify: every code valid), 1 verify: some code not valid, 2 something
to fix here (arguments, no key pinned, no list held, a held file that does not verify),
3 the hub could not be asked (unreachable, or it refused with SPEC §7's error), 4 the hub's
list was refused (older than the held one, not signed by the pinned key, not a trust list).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from gateway.core.crypto import PublicKey
from gateway.core.wire import encode_b64url
from gateway.offline.fetch import FetchFailed, fetch_key, fetch_list
from gateway.offline.store import DEFAULT_DIR, HeldListBroken, TrustStore
from gateway.offline.verifier import (
    Age,
    KeyRefused,
    ListRefused,
    NothingHeld,
    OfflineVerifier,
    TrustList,
    age,
    read_hub_key,
)

COMMANDS = frozenset({"trustlist", "verify"})
EXIT_INVALID, EXIT_FIX, EXIT_HUB, EXIT_REFUSED = 1, 2, 3, 4


def add_commands(sub: Any, environ: Mapping[str, str]) -> None:
    """Register ``trustlist`` and ``verify`` on ``hcgw``'s subparsers."""
    default_store = Path(environ.get("HCGW_OFFLINE_DIR") or DEFAULT_DIR)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--store", type=Path, default=default_store, help=f"(default {default_store})"
        )
        p.add_argument("--json", action="store_true", help="one JSON document on stdout")

    t = sub.add_parser("trustlist", help="keep the hub's signed trust list for offline checks")
    tsub = t.add_subparsers(dest="trustlist_command", required=True)
    f = tsub.add_parser("fetch", help="fetch the list, check it, keep it if not older")
    f.add_argument("--url", required=True, help="the hub, e.g. http://127.0.0.1:8080")
    f.add_argument("--token", help="a client token with the trustlist scope (or $HCGW_TOKEN)")
    pin = f.add_mutually_exclusive_group()
    pin.add_argument("--key", type=Path, help="pin the hub key in FILE (JSON, PEM, DER)")
    pin.add_argument("--key-spki", help="pin the hub key given as base64url DER SPKI")
    pin.add_argument(
        "--pin", action="store_true", help="pin the key the hub serves now (trust on first use)"
    )
    common(f)
    common(tsub.add_parser("show", help="the held list: version, age, issuers and keys"))
    v = sub.add_parser("verify", help="verify codes against the held trust list (--offline)")
    v.add_argument("--offline", action="store_true", required=True, help="required: no hub call")
    v.add_argument("codes", nargs="+", metavar="CODE", help="HCM1:… text, or - for stdin lines")
    common(v)


def run(args: argparse.Namespace, environ: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    store = TrustStore(args.store)
    try:
        if args.command == "verify":
            return _verify(args, store, out)
        if args.trustlist_command == "show":
            return _show(args, store, out)
        return _fetch(args, store, environ, out)
    except (KeyRefused, NothingHeld, HeldListBroken) as exc:
        return _fail(exc, EXIT_FIX)
    except FetchFailed as exc:
        return _fail(exc, EXIT_HUB)
    except ListRefused as exc:
        return _fail(exc, EXIT_REFUSED)
    except OSError as exc:  # the store directory: permissions, a full disk
        return _fail(exc, EXIT_FIX)


def _fail(exc: BaseException, code: int) -> int:
    print(f"hcgw: {exc}", file=sys.stderr)
    return code


def _now() -> int:
    return int(time.time())


# -- trustlist fetch / show -------------------------------------------------------------------


def _pin(args: argparse.Namespace, store: TrustStore) -> PublicKey:
    """Pin the key given (or, with --pin, served); a different key pinned before is kept."""
    given: PublicKey | None = None
    if args.key is not None:
        try:
            given = read_hub_key(args.key.read_bytes())
        except KeyRefused as exc:
            raise KeyRefused(f"{args.key}: {exc}") from exc
    elif args.key_spki is not None:
        given = read_hub_key(args.key_spki.encode())
    elif args.pin:
        given = read_hub_key(fetch_key(args.url))
    if given is not None:
        store.pin(given)
    pinned = store.pinned()
    if pinned is None:
        raise KeyRefused(
            f"no hub key pinned in {store.directory}: give --key FILE (the hub operator's "
            "/v1/trustlist/key), --key-spki B64URL, or --pin to trust what the hub serves now"
        )
    return pinned


def _fetch(
    args: argparse.Namespace, store: TrustStore, environ: Mapping[str, str], out: TextIO
) -> int:
    token = args.token or environ.get("HCGW_TOKEN")
    if not token:
        raise KeyRefused("a token with the trustlist scope is needed: --token or $HCGW_TOKEN")
    hub_key = _pin(args, store)
    verifier = store.verifier(hub_key)
    fetched = fetch_list(args.url, token, etag=store.etag() if verifier.held else None)
    changed = fetched.envelope is not None
    if fetched.envelope is not None:
        before = verifier.held
        accepted = verifier.offer(fetched.envelope)
        changed = before is None or accepted.envelope != before.envelope
        store.keep(accepted, fetched.etag)
    held = verifier.held
    if held is None:  # a 304 with nothing held cannot happen: no If-None-Match was sent
        raise NothingHeld("the hub sent no list")
    now = _now()
    if args.json:
        _json(out, {"changed": changed, "hub_key": _kid(hub_key), **_summary(held, now)})
    else:
        what = "kept" if changed else "not modified, still"
        print(f"trust list {what} version {held.version} in {store.directory}", file=out)
        _describe(held, now, out)
    return 0


def _show(args: argparse.Namespace, store: TrustStore, out: TextIO) -> int:
    verifier = _held_verifier(store)
    held = verifier.held
    assert held is not None  # _held_verifier refuses an empty store
    now = _now()
    if args.json:
        keys = [
            {
                "iss": k.iss,
                "kid": encode_b64url(k.kid),
                "alg": k.key.alg.value,
                "nbf": k.nbf,
                "naf": k.naf,
                "revoked": k.revoked,
            }
            for k in held.trust.sorted_keys()
        ]
        _json(out, {"hub_key": _kid(verifier.hub_key), **_summary(held, now), "keys": keys})
        return 0
    print(f"trust list version {held.version} in {store.directory}", file=out)
    _describe(held, now, out)
    for k in held.trust.sorted_keys():
        state = "revoked" if k.revoked else "active"
        print(
            f"  {k.iss}  {k.key.alg.value:<7}  kid {encode_b64url(k.kid)}  {state:<7}  "
            f"signs codes issued {_when(k.nbf)} … {_when(k.naf)}",
            file=out,
        )
    return 0


def _held_verifier(store: TrustStore) -> OfflineVerifier:
    hub_key = store.pinned()
    if hub_key is None:
        raise NothingHeld(f"no hub key pinned in {store.directory}: run hcgw trustlist fetch")
    verifier = store.verifier(hub_key)
    if verifier.held is None:
        raise NothingHeld(f"no trust list held in {store.directory}: run hcgw trustlist fetch")
    return verifier


def _summary(held: TrustList, now: int) -> dict[str, Any]:
    a = age(held, now)
    keys = held.trust.keys.values()
    return {
        "version": held.version,
        "iat": held.iat,
        "exp": held.exp,
        "age_seconds": a.seconds,
        "expires_in": a.expires_in,
        "stale": a.stale,
        "issuers": len(held.trust.issuers),
        "keys": len(keys),
        "revoked": sum(k.revoked for k in keys),
    }


def _describe(held: TrustList, now: int, out: TextIO) -> None:
    a = age(held, now)
    keys = held.trust.keys.values()
    print(
        f"  {len(held.trust.issuers)} issuers, {len(keys)} keys "
        f"({sum(k.revoked for k in keys)} revoked); {_age_text(a, held)}",
        file=out,
    )
    if a.stale:
        print(f"  STALE: {_stale_text(a)}", file=out)


def _age_text(a: Age, held: TrustList) -> str:
    signed = f"signed {_when(held.iat)} ({_span(a.seconds)} ago)"
    if a.stale:
        return f"{signed}, expired {_when(held.exp)} ({_span(-a.expires_in)} ago)"
    return f"{signed}, expires {_when(held.exp)} (in {_span(a.expires_in)})"


def _stale_text(a: Age) -> str:
    return (
        f"the list expired {_span(-a.expires_in)} ago; codes still verify against it, but keys "
        "revoked since are not known: fetch a new list"
    )


# -- verify --offline ---------------------------------------------------------------------------


def _codes(args: argparse.Namespace, stdin: TextIO) -> list[str]:
    codes: list[str] = []
    for arg in args.codes:
        if arg == "-":
            codes += [line.rstrip("\r\n") for line in stdin if line.strip()]
        else:
            codes.append(arg)
    return codes


def _verify(args: argparse.Namespace, store: TrustStore, out: TextIO) -> int:
    verifier = _held_verifier(store)
    held = verifier.held
    assert held is not None  # _held_verifier refuses an empty store
    now = _now()
    verdicts = [verifier.verify(code, now) for code in _codes(args, sys.stdin)]
    if args.json:
        _json(
            out,
            {
                "offline": True,
                "status_checked": False,
                "trust_list": _summary(held, now),
                "verdicts": verdicts,
            },
        )
    else:
        a = age(held, now)
        print(
            f"offline, against trust list version {held.version} ({_age_text(a, held)}); "
            "statuses NOT checked: a colour changed since a code was issued is not seen",
            file=out,
        )
        if a.stale:
            print(f"STALE: {_stale_text(a)}", file=out)
        for n, verdict in enumerate(verdicts, 1):
            print(f"#{n}  {_verdict_line(verdict)}", file=out)
    return 0 if all(v["valid"] for v in verdicts) else EXIT_INVALID


def _verdict_line(v: dict[str, Any]) -> str:
    fields: list[tuple[str, Callable[[Any], str]]] = [
        ("iss", str),
        ("kid", str),
        ("cid", str),
        ("nm", str),
        ("exp", _when),
    ]
    tail = "  ".join(f"{name} {show(v[name])}" for name, show in fields if v[name] is not None)
    if v["valid"]:
        return f"VALID {v['colour']} (code's own colour)  {tail}"
    return f"INVALID {v['reason']}  {tail}".rstrip()


# -- formatting -----------------------------------------------------------------------------------


def _kid(key: PublicKey) -> dict[str, str]:
    return {"alg": key.alg.value, "kid": encode_b64url(key.kid)}


def _when(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: int) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


def _json(out: TextIO, doc: dict[str, Any]) -> None:
    print(json.dumps(doc, ensure_ascii=False), file=out)
