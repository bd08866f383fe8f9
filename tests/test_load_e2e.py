"""The harness against a real ``hcgw serve`` on loopback: its counts against the hub's own
``/metrics``, every answer against the corpus, exit codes from the CLI, the stall self-test and
the wrk cross-check. Short, bounded runs; accounting is asserted, never speed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from load_corpus import MadeCorpus, corpus_token, primed_hub
from load_tests import report as reports
from load_tests.bodies import Target
from load_tests.cli import main as hcgw_load
from load_tests.processes import Server
from load_tests.records import Report
from load_tests.runner import RunConfig, run
from load_tests.schedule import Step
from load_tests.selftest import SelfTestConfig, selftest
from load_tests.workload import RepeatModel
from load_tests.wrk import available as wrk_available

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, MadeCorpus]]:
    with primed_hub(tmp_path_factory.mktemp("load-e2e")) as made:
        yield made


def config(server: Server, corpus: MadeCorpus, **over: Any) -> RunConfig:
    base: dict[str, Any] = {
        "target": Target(server.url, corpus_token(corpus)),
        "corpus": str(corpus.path),
        "steps": (Step(200, 2),),
        "warmup_s": 1,
        "duration_s": 2,
        "connections": 8,
        "check_every": 1,  # every answer is compared with the corpus' expectation
        "metrics_url": server.url + "/metrics",
        "drain_s": 5,
    }
    base.update(over)
    return RunConfig(**base)


def assert_counts_match_the_hub(doc: Report, codes_per_request: int) -> None:
    assert doc["server"] is not None
    c, server = doc["counts"], doc["server"]["run"]
    accounting = next(ch for ch in doc["verdict"]["checks"] if ch["name"] == "accounting")
    assert accounting["ok"], accounting
    assert c["sent"] == c["completed"] == c["ok"], c["status"]
    assert c["unsent"] == c["unfinished"] == 0
    codes = c["ok"] * codes_per_request
    # What the hub counted is what the harness sent, code for code and outcome for outcome.
    assert server["verifications"] == codes == doc["cache"]["expected"]["codes"]
    assert server["outcomes"] == doc["cache"]["expected"]["outcomes"]
    assert server["cache_lookups"] == codes
    route = "/v1/verify/batch" if codes_per_request > 1 else "/v1/verify"
    assert server["requests_by_route"][route] == c["ok"]  # (and our own /metrics scrapes)
    # Every answer was checked against the corpus, and every one was right.
    assert c["checked"] == codes and c["wrong_verdicts"] == 0


def test_open_loop_counts_agree_with_the_hubs_metrics(hub: tuple[Server, MadeCorpus]) -> None:
    server, corpus = hub
    data = run(config(server, corpus, procs=2, repeat=RepeatModel(zipf_s=1.1, seed=11)))
    doc = reports.build(data)
    jsonschema.validate(doc, json.loads(reports.SCHEMA_FILE.read_text()))
    assert_counts_match_the_hub(doc, 1)
    assert doc["counts"]["planned"] == 3 * 200
    assert doc["counts"]["sent_by_phase"] == {"warmup": 200, "measured": 400}
    observed = doc["cache"]["observed"]
    assert observed is not None
    exp, obs = doc["cache"]["expected"]["run"], observed["run"]
    # The hub had not seen these codes; requests in flight together may both miss.
    assert exp is not None and obs is not None
    assert obs == pytest.approx(exp, abs=0.03)


def test_closed_loop_batches_count_every_code(hub: tuple[Server, MadeCorpus]) -> None:
    server, corpus = hub
    target = Target(server.url, corpus_token(corpus), batch=10, encoding="json")
    cfg = config(server, corpus, mode="closed", steps=(), target=target,
                 repeat=RepeatModel(fresh=True, seed=3))  # fmt: skip
    doc = reports.build(run(cfg))
    assert_counts_match_the_hub(doc, 10)
    assert doc["counts"]["sent_by_phase"]["warmup"] > 0


def test_the_cli_writes_a_valid_report_and_gates_on_thresholds(
    hub: tuple[Server, MadeCorpus], tmp_path: Path
) -> None:
    server, corpus = hub
    out = tmp_path / "report.json"
    code = hcgw_load([
        "run", "--url", server.url, "--corpus", str(corpus.path), "--rate", "100",
        "--duration", "1s", "--warmup", "1", "--quiet", "--json", str(out),
        "--max-p99", "1us", "--min-rate", "1e9",
        "--hit-ratio-tolerance", "100%",  # this module's hub has seen every code by now
    ])  # fmt: skip
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, json.loads(reports.SCHEMA_FILE.read_text()))
    assert {t["name"]: t["ok"] for t in doc["thresholds"]} == {
        "max_p99_us": False,
        "min_rate": False,
    }
    assert code == doc["exit_code"] == 5  # latency goes before rate


def test_the_cli_refuses_a_target_off_loopback(hub: tuple[Server, MadeCorpus]) -> None:
    _, corpus = hub
    with pytest.raises(SystemExit) as stop:
        hcgw_load(
            ["run", "--url", "http://192.0.2.1:80", "--corpus", str(corpus.path), "--rate", "1"]
        )
    assert stop.value.code == 2


def test_a_stalling_server_is_charged_and_a_stalling_generator_is_refused(tmp_path: Path) -> None:
    result = selftest(SelfTestConfig(rate=500, stall_s=0.3, duration_s=2.0), workdir=tmp_path)
    server_side = result["server_stall"]
    assert server_side["stalls"] >= 1
    assert server_side["checks"] == {k: True for k in server_side["checks"]}, server_side
    assert result["generator_stall"]["ok"], result["generator_stall"]


@pytest.mark.skipif(not wrk_available(), reason="wrk is not installed (apt-get install -y wrk)")
def test_the_wrk_cross_check_reports_both_sides(hub: tuple[Server, MadeCorpus]) -> None:
    from load_tests.crosscheck import crosscheck

    server, corpus = hub
    cfg = config(server, corpus, mode="closed", steps=(), duration_s=1, connections=4,
                 repeat=RepeatModel(population=50), check_every=0, metrics_url=None)  # fmt: skip
    result = crosscheck(cfg, min_agreement=0.0)
    assert result["wrk"]["ok_rate"] > 0 and result["harness"]["ok_rate"] > 0
    assert result["wrk"]["errors"]["status"] == 0
    assert result["agreement"] == pytest.approx(
        result["harness"]["ok_rate"] / result["wrk"]["ok_rate"], rel=0.01
    )
