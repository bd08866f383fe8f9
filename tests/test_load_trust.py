"""The harness refuses to measure the wrong thing (issue 12), against a real ``hcgw serve``.

A hub that refuses the corpus's token, no hub at all, a URL without a scheme, fresh traffic the
corpus cannot supply: each is one line naming the fix and exit 2, before any load is sent. A
run whose answers are mostly errors, or whose hub had already seen its codes, is not blessed.
Codes are kept apart per test (``skip``/``population``) so one test's traffic cannot warm the
hub's cache for another's. Short, bounded runs; no timing is asserted.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from load_corpus import MadeCorpus, corpus_token, primed_hub
from load_tests import report as reports
from load_tests.bodies import Target
from load_tests.cli import main as hcgw_load
from load_tests.processes import Server, free_port, gateway
from load_tests.runner import RunConfig, run
from load_tests.schedule import Step
from load_tests.workload import RepeatModel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, MadeCorpus]]:
    with primed_hub(tmp_path_factory.mktemp("load-trust")) as made:
        yield made


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def short_run(url: str, corpus: Path, *extra: str) -> list[str]:
    return ["run", "--url", url, "--corpus", str(corpus), "--rate", "50", "--duration", "1s",
            "--warmup", "0", "--quiet", *extra]  # fmt: skip


def test_a_hub_that_refuses_the_token_is_refused_before_the_run(
    hub: tuple[Server, MadeCorpus], capsys: pytest.CaptureFixture[str]
) -> None:
    server, corpus = hub
    code = hcgw_load(short_run(server.url, corpus.path, "--token", "not-this-hubs-token"))
    out, err = capsys.readouterr()
    assert code == 2
    line = one_line(err)
    assert "401" in line and "--token" in line and "--spawn-hub" in line
    assert out == ""  # no report of a run that measured the wrong thing


def test_a_run_whose_answers_are_mostly_errors_is_invalid_whatever_the_thresholds(
    hub: tuple[Server, MadeCorpus],
) -> None:
    server, corpus = hub
    cfg = RunConfig(
        target=Target(server.url, "not-this-hubs-token"),
        corpus=str(corpus.path),
        steps=(Step(50, 1),),
        warmup_s=0,
        duration_s=1,
        connections=4,
        check_every=0,
        metrics_url=server.url + "/metrics",
    )
    doc = reports.build(run(cfg))
    assert doc["verdict"]["status"] == "INVALID" and doc["exit_code"] == 3
    failed = {c["name"]: c["detail"] for c in doc["verdict"]["checks"] if not c["ok"]}
    assert "50 of 50 answers were errors" in failed["error_answers"]
    assert doc["counts"]["errors_by_code"] == {"401 unauthenticated": 50}


def test_no_hub_at_the_url_is_one_line_and_exit_2(
    hub: tuple[Server, MadeCorpus], capsys: pytest.CaptureFixture[str]
) -> None:
    _, corpus = hub
    url = f"http://127.0.0.1:{free_port()}"
    assert hcgw_load(short_run(url, corpus.path)) == 2
    line = one_line(capsys.readouterr().err)
    assert "connection refused" in line and "--spawn-hub" in line


def test_a_url_without_a_scheme_names_the_fix(
    hub: tuple[Server, MadeCorpus], capsys: pytest.CaptureFixture[str]
) -> None:
    server, corpus = hub
    bare = server.url.removeprefix("http://")
    with pytest.raises(SystemExit) as stop:
        hcgw_load(short_run(bare, corpus.path))
    assert stop.value.code == 2
    assert f"http://{bare}" in one_line(capsys.readouterr().err)


def test_fresh_traffic_beyond_the_corpus_is_refused_before_the_run(
    hub: tuple[Server, MadeCorpus], capsys: pytest.CaptureFixture[str]
) -> None:
    server, corpus = hub  # 400 codes: after --skip 350, 50 remain for 100 requests
    code = hcgw_load(short_run(server.url, corpus.path, "--rate", "100", "--fresh",
                               "--skip", "350"))  # fmt: skip
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert "--fresh needs 100 codes" in line and "50" in line


def hit_config(server: Server, corpus: MadeCorpus) -> RunConfig:
    # 150 uniform draws over codes 100..299, unseen by the hub: about a third repeat.
    return RunConfig(
        target=Target(server.url, corpus_token(corpus)),
        corpus=str(corpus.path),
        steps=(Step(50, 2),),
        warmup_s=1,
        duration_s=2,
        connections=4,
        repeat=RepeatModel(zipf_s=0, skip=100, population=200, seed=5),
        check_every=0,
        metrics_url=server.url + "/metrics",
    )


def test_a_hub_that_has_already_seen_the_codes_fails_the_hit_ratio_check(
    hub: tuple[Server, MadeCorpus],
) -> None:
    server, corpus = hub
    first = reports.build(run(hit_config(server, corpus)))
    again = reports.build(run(hit_config(server, corpus)))  # the same draws, all seen now
    checks = {c["name"]: c for c in again["verdict"]["checks"]}
    assert {c["name"]: c["ok"] for c in first["verdict"]["checks"]}["cache_hit_ratio"]
    hit = checks["cache_hit_ratio"]
    assert not hit["ok"] and "already seen these codes" in hit["detail"]
    assert "--skip" in hit["detail"]
    assert again["verdict"]["status"] == "INVALID" and again["exit_code"] == 3


def test_progress_names_the_phase_and_the_elapsed_and_total_seconds(
    hub: tuple[Server, MadeCorpus], capsys: pytest.CaptureFixture[str]
) -> None:
    server, corpus = hub
    hcgw_load(["run", "--url", server.url, "--corpus", str(corpus.path), "--rate", "50",
               "--duration", "2s", "--warmup", "1", "--population", "100"])  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("warm-up   1/3 s") for line in lines), lines
    assert any(line.startswith("measured  3/3 s") for line in lines), lines
    assert not any(re.search(r"\d+/0\b", line) for line in lines), lines


def test_an_ignored_flag_is_warned_about(
    hub: tuple[Server, MadeCorpus], capsys: pytest.CaptureFixture[str]
) -> None:
    server, corpus = hub
    hcgw_load(["run", "--url", server.url, "--corpus", str(corpus.path), "--mode", "closed",
               "--rate", "100", "--duration", "1s", "--warmup", "0", "--connections", "2",
               "--population", "100", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert "--rate is ignored with --mode closed" in err


def test_a_second_hub_in_the_same_directory_gets_a_one_line_hint(
    hub: tuple[Server, MadeCorpus], tmp_path: Path
) -> None:
    _, corpus = hub
    first = gateway(corpus.path / "hcgw.toml", tmp_path, name="first").start()
    try:
        with pytest.raises(RuntimeError) as refused:
            gateway(corpus.path / "hcgw.toml", tmp_path, name="second").start()
    finally:
        first.stop()
    line = one_line(str(refused.value))
    assert "another hub" in line and "HCGW_DATA_DIR" in line


def test_spawn_hub_measures_a_hub_of_its_own_and_stops_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from provinces_sim.corpus import CorpusOptions, write_corpus

    write_corpus(tmp_path / "c", CorpusOptions(codes=300, seed=2, lifetime=3_600, scale=2e-6))
    out = tmp_path / "run.json"
    code = hcgw_load(["run", "--spawn-hub", "--corpus", str(tmp_path / "c"), "--rate", "50",
                      "--duration", "1s", "--warmup", "1", "--quiet",
                      "--json", str(out)])  # fmt: skip
    assert out.exists(), capsys.readouterr().err
    doc: dict[str, Any] = json.loads(out.read_text())
    assert code == doc["exit_code"]
    checks = {c["name"]: c for c in doc["verdict"]["checks"]}
    assert checks["accounting"]["ok"] and checks["error_answers"]["ok"], checks
    assert checks["cache_hit_ratio"]["ok"], checks["cache_hit_ratio"]  # a hub of its own: cold
    assert doc["preflight"]["status"] == 200
    hub_pid = doc["hub"]["pid"]
    assert doc["hub"]["spawned"] and not os.path.exists(f"/proc/{hub_pid}")
    assert doc["counts"]["ok"] == doc["counts"]["sent"] == 100
