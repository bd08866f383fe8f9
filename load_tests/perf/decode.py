"""Decoding one code: ``decode_code`` and its parts, µs per call (best of 5 × 20,000).

    .venv/bin/python load_tests/perf/decode.py     (PYTHONPATH=<worktree> for another revision)
"""

from __future__ import annotations

import hashlib
import os
import timeit

import msgpack

from gateway.core.crypto import generate_private_key, sign
from gateway.core.model import Alg, Domain
from gateway.core.wire import decode_code, decode_envelope, encode_envelope


def main() -> None:
    key = generate_private_key(Alg.ED25519)
    claims = {1: "440000", 2: os.urandom(16), 4: 1_796_000_000, 6: 1_795_990_000, 7: 0, 8: 1,
              9: os.urandom(16), 10: "张*"}  # fmt: skip
    payload = msgpack.packb(claims, use_bin_type=True)
    raw = encode_envelope(Domain.CODE, Alg.ED25519, key.public.kid, payload, lambda m: sign(key, m))
    for label, fn in (
        ("decode_code", lambda: decode_code(raw)),
        ("decode_envelope", lambda: decode_envelope(raw, Domain.CODE)),
        ("sha256 of the envelope", lambda: hashlib.sha256(raw).digest()),
    ):
        best = min(timeit.repeat(fn, number=20_000, repeat=5)) / 20_000
        print(f"{label:<24} {best * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
