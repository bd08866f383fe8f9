"""The simulated world's algorithms (provinces_sim.census): exactly the 8 SM2 issuers chosen
there, all three of SPEC §2's algorithms with real traffic, and SM2 keys that every file and the
hub's configuration carry as SM2."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

from gateway.config import parse_settings
from gateway.core.model import Alg
from provinces_sim.census import ED25519, ES256, PROVINCES, SM2
from provinces_sim.opconfig import hub_config
from provinces_sim.world import World

SM2_ISSUERS = {"120000", "220000", "330000", "350000", "410000", "510000", "610000", "630000"}


def test_exactly_the_eight_chosen_provinces_sign_with_sm2() -> None:
    assert {p.iss for p in PROVINCES if p.alg == SM2} == SM2_ISSUERS
    assert Counter(p.alg for p in PROVINCES) == {ED25519: 13, ES256: 11, SM2: 8}


def test_every_algorithm_carries_real_traffic_with_large_provinces_on_each() -> None:
    total = sum(p.population_m for p in PROVINCES)
    largest = sorted(PROVINCES, key=lambda p: -p.population_m)[:10]
    for alg in (ED25519, ES256, SM2):
        share = sum(p.population_m for p in PROVINCES if p.alg == alg) / total
        assert share > 0.25, alg
        assert sum(p.alg == alg for p in largest) >= 3, alg
    sm2 = sorted(p.population_m for p in PROVINCES if p.alg == SM2)
    assert sm2[0] < 10 < 90 < sm2[-1]  # a spread of sizes, from Qinghai to Henan


def test_the_world_gives_sm2_issuers_sm2_keys_that_survive_the_keystore(tmp_path: Path) -> None:
    world = World.create(seed=1, scale=1e-7, now=1_600_000_000)
    for iss in SM2_ISSUERS:
        issuer = world.issuers[iss]
        assert issuer.upload.alg == SM2 and [k.key.alg for k in issuer.code_keys] == [SM2]
    world.save(tmp_path / "keystore")
    again = World.open(tmp_path / "keystore")
    for iss, issuer in world.issuers.items():
        back = again.issuers[iss]
        assert (back.upload.alg, back.upload.kid) == (issuer.upload.alg, issuer.upload.kid)
        assert [k.key.kid for k in back.code_keys] == [k.key.kid for k in issuer.code_keys]


def test_the_hubs_configuration_enrols_the_sm2_upload_keys_as_sm2() -> None:
    world = World.create(seed=1, scale=1e-7, now=1_600_000_000)
    settings = parse_settings(tomllib.loads(hub_config(world, {})), {})
    algs = {i.iss: {k.alg for k in i.upload_keys} for i in settings.issuers}
    assert {iss for iss, a in algs.items() if a == {Alg.SM2}} == SM2_ISSUERS
    for issuer in settings.issuers:
        (upload,) = issuer.upload_keys
        assert upload.kid == world.issuers[issuer.iss].upload.kid
