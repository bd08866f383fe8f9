"""The per-process layer of the signature-outcome cache (docs/caching.md): it holds a code no
longer than the code lives, drops what has expired with bounded work per call, and never serves
an expired entry. Through a real hub on the injected clock, and on the cache alone.
"""

from __future__ import annotations

import hashlib
import random

from factory import GD, MSGPACK, NOW, World
from gateway.core.model import Code
from gateway.core.wire import decode_code
from gateway.service.local_cache import GRAIN, NEGATIVE_LIFE, SWEEP, Checked, LocalCache
from hubtest import MakeHub, cache_counts, verify_batch


async def test_expired_codes_leave_the_local_cache_once_the_hubs_clock_passes_them(
    make_hub: MakeHub,
) -> None:
    hub = await make_hub()
    r = await hub.post(f"/v1/issuers/{GD}/keys", data=hub.world.key_add(GD), headers=MSGPACK)
    assert r.status == 201
    short = [hub.world.code(GD, exp=NOW + 60) for _ in range(200)]
    long = [hub.world.code(GD, exp=NOW + 3600) for _ in range(50)]
    assert all(v["valid"] for v in await verify_batch(hub, [*short, *long]))
    assert len(hub.hub.local) == 250
    hub.clock.now = NOW + 60 + GRAIN
    assert all(v["valid"] for v in await verify_batch(hub, long))  # 50 calls: sweeps 200
    assert len(hub.hub.local) == 50
    verdicts = await verify_batch(hub, short[:5])
    assert {v["reason"] for v in verdicts} == {"EXPIRED"}
    assert len(hub.hub.local) == 50  # an expired code is not stored again


async def test_an_entry_is_not_served_from_the_second_its_code_expires(make_hub: MakeHub) -> None:
    hub = await make_hub()
    r = await hub.post(f"/v1/issuers/{GD}/keys", data=hub.world.key_add(GD), headers=MSGPACK)
    assert r.status == 201
    raw = hub.world.code(GD, exp=NOW + 100)
    assert (await verify_batch(hub, [raw]))[0]["valid"]
    hub.clock.now = NOW + 99
    before = cache_counts(await (await hub.get("/metrics")).text(), "local")
    assert (await verify_batch(hub, [raw]))[0]["valid"]
    hub.clock.now = NOW + 100
    assert (await verify_batch(hub, [raw]))[0]["reason"] == "EXPIRED"
    after = cache_counts(await (await hub.get("/metrics")).text(), "local")
    assert after["hit"] - before["hit"] == 1  # at exp − 1 only
    assert after["miss"] - before["miss"] == 1


# ---------------------------------------------------------------------------------------------
# The cache alone


WORLD = World.make()


def code(exp: int) -> tuple[bytes, Code]:
    raw = WORLD.code(GD, exp=exp)
    return hashlib.sha256(raw).digest(), decode_code(raw)


def test_a_code_is_served_until_one_second_before_exp_and_never_at_exp() -> None:
    cache = LocalCache(10)
    digest, c = code(NOW + 100)
    cache.put(digest, Checked(c, True), NOW)
    assert cache.get(digest, NOW + 99) == Checked(c, True)
    assert cache.get(digest, NOW + 100) is None
    assert cache.get(digest, NOW + 101) is None


def test_each_call_drops_at_most_a_bounded_number_of_expired_entries() -> None:
    cache = LocalCache(1000)
    _, c = code(NOW + 10)
    for n in range(100):
        cache.put(bytes([n]) * 32, Checked(c, True), NOW)
    later = NOW + 10 + GRAIN
    cache.get(b"absent", later)
    assert len(cache) == 100 - SWEEP
    for _ in range(100):
        cache.get(b"absent", later)
    assert len(cache) == 0


def test_an_invalid_signature_is_kept_for_a_short_while_only() -> None:
    cache = LocalCache(10)
    _, c = code(NOW + 86_400)
    cache.put(b"forged" * 6, Checked(c, False), NOW)
    cache.put(b"valid" * 7, Checked(c, True), NOW)
    cache.get(b"absent", NOW + NEGATIVE_LIFE + GRAIN)
    assert cache.get(b"forged" * 6, NOW + NEGATIVE_LIFE + GRAIN) is None
    assert cache.get(b"valid" * 7, NOW + NEGATIVE_LIFE + GRAIN) == Checked(c, True)
    assert len(cache) == 1


def test_a_full_cache_gives_up_the_entry_used_least_recently() -> None:
    cache = LocalCache(3)
    entries = [(bytes([n]) * 32, code(NOW + life)[1]) for n, life in enumerate((900, 300, 600))]
    for digest, c in entries:
        cache.put(digest, Checked(c, True), NOW)
    assert cache.get(entries[0][0], NOW) is not None  # the first one stored is used again
    _, newcomer = code(NOW + 1200)
    cache.put(b"new" * 11, Checked(newcomer, True), NOW)
    assert len(cache) == 3
    assert cache.get(entries[1][0], NOW) is None  # stored second, never used since
    assert all(cache.get(d, NOW) is not None for d in (entries[0][0], entries[2][0], b"new" * 11))


def test_codes_verified_again_and_again_stay_while_a_flood_of_new_codes_passes() -> None:
    """The bench's hit population beside its miss runs. When a full layer gave up the entry
    due soonest, the codes used again whose exp happened to come early pushed each other out:
    with 20 times the layer's size in new codes, most of every later pass was decoded and
    looked up again (in the bench, half of a hit run's codes once the layer had filled)."""
    rng = random.Random(16)
    _, c = code(NOW + 86_000)

    def checked() -> Checked:  # exp spread over ten minutes, like a corpus's iat
        return Checked(c._replace(exp=NOW + 86_000 + rng.randrange(600)), True)

    cache = LocalCache(1000)
    used_again = [(b"h%031d" % n, checked()) for n in range(100)]
    stored_again = 0
    for n in range(20_000):
        cache.put(b"n%031d" % n, checked(), NOW)
        if n % 10 == 0:
            for digest, entry in used_again:
                if cache.get(digest, NOW) is None:
                    stored_again += 1
                    cache.put(digest, entry, NOW)
    assert len(cache) == 1000
    assert stored_again == len(used_again)  # the first pass only


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = LocalCache(0)
    digest, c = code(NOW + 100)
    cache.put(digest, Checked(c, True), NOW)
    assert len(cache) == 0 and cache.get(digest, NOW) is None


def test_a_flood_of_forged_codes_does_not_push_out_the_codes_issuers_signed() -> None:
    cache = LocalCache(100)
    _, signed = code(NOW + 600)
    _, forged = code(NOW + 86_400)
    for n in range(50):
        cache.put(b"s%031d" % n, Checked(signed, True), NOW)
    for n in range(1000):
        cache.put(b"f%031d" % n, Checked(forged, False), NOW + n // 100)
    assert len(cache) == 100
    assert all(cache.get(b"s%031d" % n, NOW + 10) is not None for n in range(50))
