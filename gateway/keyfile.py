"""The hub's trust-list signing key on disk (``trust_key``): read it, or make it on first start.

Used by ``hcgw serve`` and each of its workers, ``hcgw keygen``, and the benchmark's gunicorn
application; imports only the core's key functions.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from gateway.core.crypto import (
    PrivateKey,
    generate_private_key,
    private_key_from_pem,
    private_key_to_pem,
)
from gateway.core.model import Alg

log = logging.getLogger("hcgw")


def load_or_create_hub_key(path: Path) -> PrivateKey:
    """The hub's trust-list key, created on first start. Processes starting together (gunicorn's
    workers) may race: each writes a whole file aside and links it into place, which succeeds
    for one; the others read the winner's, never a half-written file."""
    if path.exists():
        return private_key_from_pem(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_private_key(Alg.ED25519)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(private_key_to_pem(key))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(aside, path)  # atomic, and refuses to replace a key that is there
        except FileExistsError:
            return private_key_from_pem(path.read_bytes())
    finally:
        aside.unlink(missing_ok=True)
    log.info("created the hub's trust-list key at %s", path)
    return key
