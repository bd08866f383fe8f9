"""An independent SM2 verifier in plain Python (GB/T 32918.2 §7), for the tests only.

It takes any curve, user ID or precomputed ``e``, which the production path (Tongsuo, the
default ID on sm2p256v1 only) cannot, so the published vectors that need them still run, and
signatures made by ``gateway.core.crypto.sign`` are checked by a second implementation.
Affine arithmetic with Python integers: slow (milliseconds) and not constant-time, which is
fine for verifying public test data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DEFAULT_ID = b"1234567812345678"


@dataclass(frozen=True)
class Curve:
    p: int
    a: int
    b: int
    n: int
    gx: int
    gy: int

    @classmethod
    def from_hex(cls, doc: dict[str, str]) -> Curve:
        return cls(*(int(doc[k], 16) for k in ("p", "a", "b", "n", "gx", "gy")))


Point = tuple[int, int] | None  # None: the point at infinity


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def z_a(curve: Curve, user_id: bytes, x: int, y: int) -> bytes:
    entl = (len(user_id) * 8).to_bytes(2, "big")
    fields = (curve.a, curve.b, curve.gx, curve.gy, x, y)
    return sm3(entl + user_id + b"".join(v.to_bytes(32, "big") for v in fields))


def _add(curve: Curve, one: Point, other: Point) -> Point:
    if one is None:
        return other
    if other is None:
        return one
    (x1, y1), (x2, y2) = one, other
    p = curve.p
    if x1 == x2 and (y1 + y2) % p == 0:
        return None
    if one == other:
        slope = (3 * x1 * x1 + curve.a) * pow(2 * y1, -1, p) % p
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, p) % p
    x3 = (slope * slope - x1 - x2) % p
    return x3, (slope * (x1 - x3) - y1) % p


def _mul(curve: Curve, k: int, point: Point) -> Point:
    result: Point = None
    while k:
        if k & 1:
            result = _add(curve, result, point)
        point = _add(curve, point, point)
        k >>= 1
    return result


def verify_digest(curve: Curve, x: int, y: int, e: int, r: int, s: int) -> bool:
    """GB/T 32918.2 §7.1 steps B1–B7 over a given ``e``."""
    if not (0 < r < curve.n and 0 < s < curve.n):
        return False
    t = (r + s) % curve.n
    if t == 0:
        return False
    point = _add(curve, _mul(curve, s, (curve.gx, curve.gy)), _mul(curve, t, (x, y)))
    return point is not None and (e + point[0]) % curve.n == r


def verify(
    curve: Curve, x: int, y: int, message: bytes, r: int, s: int, user_id: bytes = DEFAULT_ID
) -> bool:
    e = int.from_bytes(sm3(z_a(curve, user_id, x, y) + message), "big")
    return verify_digest(curve, x, y, e, r, s)
