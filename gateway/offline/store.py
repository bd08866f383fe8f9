"""A terminal's directory: the pinned hub key and the trust list it holds, on disk.

    hub-key.json        {"alg", "spki"} as GET /v1/trustlist/key answers; written once (pin)
    trustlist.msgpack   the signed list exactly as the hub sent it
    trustlist.etag      its ETag, for If-None-Match on the next fetch

The held list is verified again under the pinned key every time it is read, so a file changed
on disk is refused, never trusted. Files are replaced atomically (write, fsync, rename), so a
terminal that loses power mid-fetch keeps the list it had.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gateway.core.crypto import PublicKey
from gateway.core.wire import encode_b64url
from gateway.offline.verifier import (
    KeyRefused,
    ListRefused,
    OfflineError,
    OfflineVerifier,
    TrustList,
    key_doc,
    read_hub_key,
    read_trust_list,
)

KEY_FILE = "hub-key.json"
LIST_FILE = "trustlist.msgpack"
ETAG_FILE = "trustlist.etag"
DEFAULT_DIR = Path("var/offline")


class HeldListBroken(OfflineError):
    """The list on disk does not verify under the pinned key: changed, or another hub's."""


class TrustStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def pinned(self) -> PublicKey | None:
        path = self.directory / KEY_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return read_hub_key(data)
        except KeyRefused as exc:
            raise KeyRefused(f"{path}: {exc}") from exc

    def pin(self, key: PublicKey) -> bool:
        """Pin ``key``; ``False`` when it was pinned already. A different pinned key stays."""
        held = self.pinned()
        if held is not None:
            if held.spki != key.spki:
                raise KeyRefused(
                    f"{self.directory / KEY_FILE} pins another hub key "
                    f"({held.alg.value} {encode_b64url(held.kid)}, offered "
                    f"{key.alg.value} {encode_b64url(key.kid)}); remove that file to pin anew"
                )
            return False
        self._write(KEY_FILE, json.dumps(key_doc(key)).encode() + b"\n")
        return True

    def held(self, hub_key: PublicKey) -> TrustList | None:
        """The held list, verified again under ``hub_key``; ``HeldListBroken`` if it does not."""
        try:
            envelope = (self.directory / LIST_FILE).read_bytes()
        except FileNotFoundError:
            return None
        try:
            return read_trust_list(envelope, hub_key)
        except ListRefused as exc:
            raise HeldListBroken(
                f"{self.directory / LIST_FILE} does not verify under the pinned key ({exc}); "
                "remove it to fetch a new list"
            ) from exc

    def etag(self) -> str | None:
        try:
            return (self.directory / ETAG_FILE).read_text(encoding="ascii").strip() or None
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def keep(self, held: TrustList, etag: str | None) -> None:
        self._write(LIST_FILE, held.envelope)
        self._write(ETAG_FILE, (etag or "").encode("ascii", "replace"))

    def verifier(self, hub_key: PublicKey) -> OfflineVerifier:
        return OfflineVerifier(hub_key, self.held(hub_key))

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / name
        temporary = target.with_name(f".{name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
