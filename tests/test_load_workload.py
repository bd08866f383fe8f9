"""The repeat model: Zipf shares over ranks, fresh traffic, the invalid share, expected hits."""

from __future__ import annotations

import collections
import json

import msgpack
import pytest

from load_tests.corpus import CorpusCode, CorpusError, Expectation, load_corpus
from load_tests.workload import (
    RepeatModel,
    choose_population,
    draw_sequence,
    expected_hits,
    repeat_share,
)

VALID = Expectation(True, None, "green")
BAD_SIG = Expectation(False, "BAD_SIGNATURE", None)
UNKNOWN_KID = Expectation(False, "UNKNOWN_KID", None)


def corpus(n_valid: int, n_invalid: int = 0, invalid: Expectation = BAD_SIG) -> list[CorpusCode]:
    codes = [CorpusCode(i.to_bytes(4, "big"), "440000", VALID) for i in range(n_valid)]
    codes += [CorpusCode(b"x" + i.to_bytes(4, "big"), "440000", invalid) for i in range(n_invalid)]
    return codes


def test_zipf_draws_follow_one_over_rank_to_the_s() -> None:
    codes = corpus(50)
    model = RepeatModel(zipf_s=1.2, seed=3)
    ranks = {c: r for r, c in enumerate(choose_population(codes, model))}
    draws = draw_sequence(codes, model, 200_000)
    counts = collections.Counter(ranks[d] for d in draws)
    norm = sum((k + 1) ** -1.2 for k in range(50))
    for rank in (0, 1, 4, 19, 49):
        expected = (rank + 1) ** -1.2 / norm
        assert counts[rank] / len(draws) == pytest.approx(expected, rel=0.08, abs=0.0005)


def test_zipf_s_zero_is_uniform() -> None:
    codes = corpus(20)
    draws = draw_sequence(codes, RepeatModel(zipf_s=0, seed=9), 100_000)
    counts = collections.Counter(draws)
    assert len(counts) == 20
    assert max(counts.values()) / min(counts.values()) < 1.1


def test_fresh_traffic_sends_every_code_once_until_the_population_wraps() -> None:
    codes = corpus(100)
    draws = draw_sequence(codes, RepeatModel(fresh=True), 100)
    assert sorted(draws) == list(range(100)) and repeat_share(draws) == 0
    wrapped = draw_sequence(codes, RepeatModel(fresh=True), 150)
    assert list(wrapped[100:]) == list(wrapped[:50])


def test_skip_keeps_runs_on_disjoint_codes() -> None:
    codes = corpus(100)
    first = set(draw_sequence(codes, RepeatModel(fresh=True, population=40), 40))
    second = set(draw_sequence(codes, RepeatModel(fresh=True, skip=40), 60))
    assert not first & second and first | second == set(range(100))


def test_the_invalid_share_is_exact_in_the_population() -> None:
    codes = corpus(80, 80)
    population = choose_population(codes, RepeatModel(population=50, invalid_share=0.2))
    assert sum(not codes[i].expect.valid for i in population) == 10
    with pytest.raises(ValueError, match="invalid"):
        choose_population(codes, RepeatModel(population=150, invalid_share=0.9))


def test_expected_hits_match_a_brute_force_count() -> None:
    codes = corpus(30, 10, invalid=UNKNOWN_KID)  # unknown-kid codes are never cached
    draws = list(draw_sequence(codes, RepeatModel(zipf_s=0.8, seed=4), 5_000))
    brute = sum(1 for n, d in enumerate(draws) if d in draws[:n] and codes[d].expect.cacheable)
    assert expected_hits(draws, codes) == (brute, len(draws))


def test_expected_hits_carry_what_the_warm_up_saw() -> None:
    codes = corpus(10)
    seen: set[int] = set()
    assert expected_hits([0, 1, 2], codes, seen) == (0, 3)
    assert expected_hits([0, 1, 3], codes, seen) == (2, 3)


@pytest.mark.parametrize(
    ("reason", "cacheable"),
    [(None, True), ("BAD_SIGNATURE", True), ("NOT_YET_VALID", True), ("EXPIRED", False),
     ("MALFORMED", False), ("UNKNOWN_KID", False), ("KEY_REVOKED", False)],
)  # fmt: skip
def test_which_expectations_the_hub_can_cache(reason: str | None, cacheable: bool) -> None:
    assert (
        Expectation(reason is None, reason, "green" if reason is None else None).cacheable
        is cacheable
    )


def test_outcome_labels_are_the_hubs_metric_labels() -> None:
    assert Expectation(True, None, "yellow").outcome == "yellow"
    assert Expectation(False, "BAD_SIGNATURE", None).outcome == "bad_signature"


def test_a_corpus_is_read_in_the_documented_format(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "manifest.json").write_text(
        json.dumps({"format": "hcgw-corpus", "version": 1, "client": {"token": "t"}})
    )
    with open(tmp_path / "codes.msgpack", "wb") as f:
        for n in range(3):
            item = {"code": bytes([n]), "iss": "110000",
                    "expect": {"valid": n != 1, "reason": "EXPIRED" if n == 1 else None,
                               "colour": None if n == 1 else "red"}}  # fmt: skip
            f.write(msgpack.packb(item, use_bin_type=True))
    c = load_corpus(tmp_path)
    assert c.token == "t" and len(c.codes) == 3
    assert c.codes[1].expect == Expectation(False, "EXPIRED", None)
    assert len(load_corpus(tmp_path, limit=2).codes) == 2


def test_a_directory_of_another_format_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(CorpusError, match="format"):
        load_corpus(tmp_path)
