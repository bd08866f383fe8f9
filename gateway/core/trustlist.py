"""The signed trust list (SPEC §6): what an offline verifier needs to check codes as §3.1 does."""

from __future__ import annotations

import msgpack

from gateway.core.crypto import PrivateKey, sign
from gateway.core.model import Domain
from gateway.core.trust import TrustSnapshot
from gateway.core.wire import encode_envelope

LIFETIME = 3600


def build_trust_list(trust: TrustSnapshot, hub_key: PrivateKey, now: int) -> bytes:
    payload = {
        # SPEC §6 counts from 1; the registry counts its changes from 0 (an empty registry).
        "version": trust.version + 1,
        "iat": now,
        "exp": now + LIFETIME,
        "issuers": sorted(trust.issuers),
        "keys": [
            {
                "iss": k.iss,
                "kid": k.kid,
                "alg": k.key.alg.value,
                "spki": k.key.spki,
                "nbf": k.nbf,
                "naf": k.naf,
                "revoked": k.revoked,
            }
            for k in trust.sorted_keys()
        ],
    }
    packed = msgpack.packb(payload, use_bin_type=True)
    return encode_envelope(
        Domain.TRUST, hub_key.public.alg, hub_key.public.kid, packed, lambda m: sign(hub_key, m)
    )
