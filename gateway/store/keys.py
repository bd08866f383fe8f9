"""Every Redis key the hub uses, in one place (namespace ``hcgw:v1``).

Hash tags put together what one script must touch: the registry (and the record of each key
message it applied) under ``{reg}``, an issuer's mark, nonces and statuses under ``{<iss>}``.
Cached signature outcomes carry one of 16 bucket tags, ``{sig:0}`` … ``{sig:f}``, picked by the
first hex digit of their digest: on a cluster a multi-key command cannot cross slots, so untagged
outcomes cost one MGET and one SET per code, while 16 buckets let a batch's outcomes travel in at
most 16 MGETs and 16 write scripts (the lookup path's CPU per new code, batches of 100, fell from
40 to 16 µs on a 3-master cluster), and the cache still spreads over up to 16 nodes. Keys never
hold a raw ID number: ``sub`` is already a pseudonym.
"""

from __future__ import annotations

import functools
import hashlib

NS = "hcgw:v1"

REGISTRY_KEYS = f"{NS}:{{reg}}:keys"  # hash: kid → msgpack key record
REGISTRY_OWNERS = f"{NS}:{{reg}}:owners"  # hash: kid → issuer code
REGISTRY_REVOKED = f"{NS}:{{reg}}:revoked"  # hash: kid → revocation time
REGISTRY_VERSION = f"{NS}:{{reg}}:version"  # int, +1 on every registry change
REGISTRY_TOKEN = f"{NS}:{{reg}}:token"  # random bytes, new with every registry change
TRUST_LIST = f"{NS}:{{reg}}:trustlist"  # hash: version, token, iat, envelope
READINESS_PROBE = f"{NS}:readyz"  # a short-lived write: does Redis take writes?
# Leases with invalidation (gateway/store/invalidation.py) on one Redis, all in
# one slot (on a cluster, one such set per hash tag: lease_domain below):
INVALIDATIONS = f"{NS}:{{inv}}:stream"  # stream: one entry per registry or status write
LEASES = f"{NS}:{{inv}}:leases"  # hash: worker → lease expiry, ms of Redis's clock
CONFIRMED = f"{NS}:{{inv}}:confirmed"  # hash: worker → the last entry it has applied
LEASE_EPOCH = f"{NS}:{{inv}}:epoch"  # random, set once: a store wiped or replaced has another
LEASE_NODE = f"{NS}:{{inv}}:node"  # hash: run (the node that judged the leases), fence (ms)

SIGNATURE_BUCKETS = 16
_SIG = tuple(f"{NS}:{{sig:{b:x}}}:".encode() for b in range(SIGNATURE_BUCKETS))
SIGNATURE_OUTCOME_MATCH = f"{NS}:{{sig:*}}:*".encode()  # a SCAN pattern for every bucket


def mark(iss: str) -> str:
    return f"{NS}:{{{iss}}}:mark"


def nonce(iss: str, value: bytes) -> str:
    return f"{NS}:{{{iss}}}:nonce:{value.hex()}"


def registry_record(iss: str, value: bytes) -> str:
    """Which attempt applied the key message of nonce ``value``, and its answer: beside the
    registry (``{reg}``), for the registry scripts cannot reach the nonce's slot."""
    return f"{NS}:{{reg}}:applied:{iss}:{value.hex()}"


@functools.lru_cache(maxsize=256)  # 32 issuers; built once, not per verification
def status_prefix(iss: str) -> bytes:
    return f"{NS}:{{{iss}}}:st:".encode()


def status(iss: str, sub: bytes) -> bytes:
    return status_prefix(iss) + sub


def signature_outcome(envelope_digest: bytes) -> bytes:
    return _SIG[envelope_digest[0] >> 4] + envelope_digest


def lease_domain(tag: str) -> tuple[str, str, str, str, str]:
    """On a cluster, the stream, leases, confirmations, epoch and node hash of the lease domain
    beside the writes tagged ``{tag}`` (``reg`` or an issuer), as ``INVALIDATIONS``, ``LEASES``,
    ``CONFIRMED``, ``LEASE_EPOCH`` and ``LEASE_NODE`` are for one Redis: a write and its
    invalidation must share a script, so one slot."""
    at = f"{NS}:{{{tag}}}:inv"
    return at, f"{at}:leases", f"{at}:confirmed", f"{at}:epoch", f"{at}:node"


def rate_bucket(client_id: str) -> str:
    # Operator-chosen ids may hold braces or spaces; a digest keeps the key and its tag tidy.
    return f"{NS}:rate:{{{hashlib.sha256(client_id.encode()).hexdigest()[:16]}}}"
