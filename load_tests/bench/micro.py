"""In-process figures: raw signature verification (the limits) and peers vs our verification core.

Every figure is single-threaded operations per second in this process ("per core"), measured
in interleaved rounds (each candidate runs a short round in turn, several times) so a noisy
neighbour slows all candidates alike; a candidate's figure is its best round.

The peers are what a verifier would pick instead of HCM/1, given the same claims and the same
keys: a JWS/JWT (PyJWT, joserfc) and a COSE_Sign1 (pycose). Each candidate does the whole
verification a user would: parse the token, verify the signature with a preloaded key, read
the claims and check expiry. Ours is ``gateway.core``: ``decode_code`` (strict decoding) and
``verify`` (every step of SPEC §3.1) against a trust snapshot.
"""

from __future__ import annotations

import base64
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from nacl.bindings import crypto_sign_open
from tongsuopy.crypto.asymciphers import ec as sm_ec
from tongsuopy.crypto.hashes import SM3

from gateway.core.crypto import PrivateKey, generate_private_key, verify_signature
from gateway.core.model import Alg, Domain
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.core.verify import verify
from gateway.core.wire import decode_code, decode_envelope
from load_tests.bench.document import Micro, Rates
from load_tests.inprocess.codes import ISS, our_code
from load_tests.inprocess.codes import claims as code_claims

PEER_ALGS = (Alg.ED25519, Alg.ES256)  # no JOSE or COSE library verifies SM2


def measure(
    candidates: dict[str, Callable[[], object]], seconds: float, rounds: int = 5
) -> dict[str, Rates]:
    """ops/s per candidate: best and median of ``rounds`` interleaved rounds, and every round's
    (``per_round``: candidates of one round ran within milliseconds of each other)."""
    slice_s = seconds / rounds / max(1, len(candidates))
    rates: dict[str, list[float]] = {name: [] for name in candidates}
    for fn in candidates.values():
        fn()  # warm caches before any timing
    for _ in range(rounds):
        for name, fn in candidates.items():
            n, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < slice_s:
                for _ in range(50):
                    fn()
                n += 50
            rates[name].append(n / elapsed)
    return {
        name: {"best": max(r), "median": statistics.median(r), "rounds": len(r), "per_round": r}
        for name, r in rates.items()
    }


def raw_candidates(now: int) -> dict[str, Callable[[], object]]:
    """The library call alone, key preloaded, over the signed bytes of a realistic code."""
    out: dict[str, Callable[[], object]] = {}
    for alg in Alg:
        key = generate_private_key(alg)
        env = decode_envelope(our_code(key, code_claims(now)), Domain.CODE)
        msg, sig = env.signed, env.signature
        if alg is Alg.ED25519:
            impl: Any = key.public.impl
            out["Ed25519/cryptography"] = functools.partial(impl.verify, sig, msg)
            raw = key.public.spki[-32:]
            out["Ed25519/libsodium"] = functools.partial(crypto_sign_open, sig + msg, raw)
        elif alg is Alg.SM2:  # Tongsuo: Z_A with the default user ID, then SM3 (SPEC §2)
            der = encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:]))
            impl = key.public.impl
            out["SM2/tongsuo"] = functools.partial(impl.verify, der, msg, sm_ec.ECDSA(SM3()))
        else:
            der = encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:]))
            impl = key.public.impl
            out["ES256/cryptography"] = functools.partial(impl.verify, der, msg, ec.ECDSA(SHA256()))
        out[f"{alg.value}/gateway verify_signature"] = functools.partial(
            verify_signature, key.public, msg, sig
        )
    return out


def peer_candidates(alg: Alg, now: int) -> dict[str, Callable[[], object]]:
    """Our core and each peer, verifying the same claims signed with the same key."""
    key = generate_private_key(alg)
    claims = code_claims(now)
    trust = TrustSnapshot.build(1, [ISS], [KeyRecord(ISS, key.public, now - 60, now + 86_400)])
    ours = our_code(key, claims)

    def hcm1() -> object:
        verdict = verify(decode_code(ours), trust, now, None)
        assert verdict.valid
        return verdict

    out: dict[str, Callable[[], object]] = {"hcgw core (HCM/1)": hcm1}
    jwt_claims = {
        "iss": ISS, "cid": _b64(claims[2]), "exp": claims[4], "iat": claims[6],
        "col": claims[7], "sv": claims[8], "sub": _b64(claims[9]), "nm": claims[10],
    }  # fmt: skip
    out.update(_pyjwt(alg, key, jwt_claims))
    out.update(_joserfc(alg, key, jwt_claims))
    out.update(_pycose(alg, key, claims))
    return out


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# The peers (PyJWT, joserfc, pycose) are imported in their functions: they are the load extra's,
# and only the bench's --peers pass needs them.


def _pyjwt(alg: Alg, key: PrivateKey, claims: dict[str, Any]) -> dict[str, Callable[[], object]]:
    import jwt

    name = "EdDSA" if alg is Alg.ED25519 else "ES256"
    token = jwt.encode(claims, key.impl, algorithm=name)
    public = key.public.impl

    def run() -> object:
        out = jwt.decode(token, public, algorithms=[name])
        assert out["iss"] == ISS
        return out

    return {"PyJWT (JWS)": run}


def _joserfc(alg: Alg, key: PrivateKey, claims: dict[str, Any]) -> dict[str, Callable[[], object]]:
    from joserfc import jwt
    from joserfc.jwk import ECKey, OKPKey

    kind: Any = OKPKey if alg is Alg.ED25519 else ECKey
    private, public = kind.import_key(key.impl), kind.import_key(key.public.impl)
    name = "Ed25519" if alg is Alg.ED25519 else "ES256"  # RFC 9864's name: EdDSA warns
    token = jwt.encode({"alg": name}, claims, private, algorithms=[name])
    registry = jwt.JWTClaimsRegistry(exp={"essential": True})

    def run() -> object:
        out = jwt.decode(token, public, algorithms=[name])
        registry.validate(out.claims)
        return out

    return {"joserfc (JWS)": run}


def _pycose(alg: Alg, key: PrivateKey, claims: dict[int, Any]) -> dict[str, Callable[[], object]]:
    import cbor2
    from pycose.algorithms import EdDSA, Es256
    from pycose.headers import Algorithm
    from pycose.keys.cosekey import CoseKey
    from pycose.messages.cosemessage import CoseMessage
    from pycose.messages.sign1message import Sign1Message

    payload = cbor2.dumps(claims)
    cose_alg: Any = EdDSA if alg is Alg.ED25519 else Es256
    msg = Sign1Message(phdr={Algorithm: cose_alg}, payload=payload)
    msg.key = CoseKey._from_cryptography_key(key.impl)  # pycose's own converter
    encoded = msg.encode()
    public = CoseKey._from_cryptography_key(key.public.impl)

    def run() -> object:
        decoded: Any = CoseMessage.decode(encoded)
        decoded.key = public
        assert decoded.verify_signature()
        out = cbor2.loads(decoded.payload)
        assert out[4] > int(time.time())
        return out

    return {"pycose (COSE_Sign1)": run}


def micro(seconds: float) -> Micro:
    """Raw verification rates and the peer comparison for both algorithms."""
    now = int(time.time())
    raw = measure(raw_candidates(now), seconds * 3)
    peers = {alg.value: measure(peer_candidates(alg, now), seconds * 4) for alg in PEER_ALGS}
    return {"raw": raw, "peers": peers}
