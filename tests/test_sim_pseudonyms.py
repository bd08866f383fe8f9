"""Pseudonyms (SPEC §3 ``sub``): a province keeps HMAC-SHA256(secret, ID type ‖ ID number)[:16]
and the masked name; the raw ID number never leaves the issuer, nor reaches any file."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import random
from pathlib import Path

import pytest

from provinces_sim import people
from provinces_sim.census import BY_ISS
from provinces_sim.corpus import CorpusOptions, write_corpus
from provinces_sim.issuer import Resident
from provinces_sim.opconfig import hub_config
from provinces_sim.world import World
from sim_support import files_holding, id_numbers

NOW = 1_600_000_000


@pytest.fixture(scope="module")
def world() -> World:
    world = World.create(seed=11, scale=2e-6, now=NOW)
    world.populate()
    return world


def test_a_resident_holds_the_pseudonym_and_masked_name_but_no_id_number(world: World) -> None:
    numbers = id_numbers(world)
    assert len(numbers) == len(world.residents())
    field_names = {f.name for f in dataclasses.fields(Resident)}
    assert not field_names & {"id", "id_number", "id_type", "name", "person"}
    for resident in world.residents():
        values = [getattr(resident, name) for name in field_names]
        assert not any(isinstance(v, str | bytes) and v in numbers for v in values)
        assert len(resident.sub) == 16
        assert resident.nm[0] != "*" and resident.nm.endswith("*")


def test_the_pseudonym_is_hmac_sha256_of_id_type_and_number_under_the_issuers_secret(
    world: World,
) -> None:
    issuer = world.issuers["440000"]
    registry = people.draw(
        random.Random(f"{world.seed}:440000:people"), issuer.province.cities(), 0.3
    )
    for resident in issuer.residents:
        person = next(registry)
        message = (person.id_type + person.id_number).encode()
        assert resident.sub == hmac.new(issuer.secret, message, hashlib.sha256).digest()[:16]
        assert resident.nm == person.surname + "*" * len(person.given_name)


def test_the_same_person_has_different_pseudonyms_under_different_issuers() -> None:
    a = World.create(seed=1, scale=1e-7, now=NOW)
    b = World.create(seed=1, scale=1e-7, now=NOW)
    a.populate()
    b.populate()
    # the same seed draws the same people; each world made its own secrets
    subs_a = {r.sub for r in a.residents()}
    assert not subs_a & {r.sub for r in b.residents()}
    assert len(subs_a) == len(a.residents())


def test_id_numbers_are_18_characters_with_a_valid_check_character() -> None:
    registry = people.draw(random.Random(3), BY_ISS["110000"].cities(), 1.0)
    for _ in range(200):
        number = next(registry).id_number
        assert len(number) == 18 and number[:17].isdigit() and number.startswith("1101")
        assert number[17] == people.check_character(number[:17])
    assert people.check_character("11010519491231002") == "X"  # GB 11643's own example


def test_nothing_the_simulator_writes_holds_an_id_number(world: World, tmp_path: Path) -> None:
    world.save(tmp_path / "keystore")
    (tmp_path / "hcgw.toml").write_text(hub_config(world, {"listen": "127.0.0.1:1"}))
    corpus = tmp_path / "corpus"
    manifest = write_corpus(corpus, CorpusOptions(codes=300, seed=11, scale=2e-6), now=NOW)
    corpus_world = World.open(corpus / "keystore")
    corpus_world.populate()
    assert json.loads((corpus / "manifest.json").read_text())["seed"] == manifest["seed"]
    assert files_holding(tmp_path, id_numbers(world) | id_numbers(corpus_world)) == {}
