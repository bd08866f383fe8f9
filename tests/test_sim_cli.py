"""The simulator's command line: help for every command, one clear line when the hub is
unreachable or refuses (with SPEC §7's error code), the operator's config, and the demo."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway.config import parse_settings
from gateway.launch import free_port
from provinces_sim.cli import main
from provinces_sim.corpus import CorpusOptions, write_corpus
from provinces_sim.errors import HubRefused
from provinces_sim.prime import prime
from provinces_sim.world import World
from sim_support import files_holding, id_numbers, sim_hub

COMMANDS = ["demo", "config", "run", "sample", "corpus", "prime"]


@pytest.mark.parametrize("argv", [[], *([c] for c in COMMANDS)], ids=["top", *COMMANDS])
def test_every_command_answers_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: provinces_sim")
    if not argv:
        assert all(c in out for c in COMMANDS)


def test_config_writes_a_toml_the_gateway_loads_with_only_token_digests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keystore, toml = tmp_path / "ks", tmp_path / "hcgw.toml"
    assert main(["config", "--keystore", str(keystore), "--out", str(toml)]) == 0
    first = toml.read_text()
    settings = parse_settings(tomllib.loads(first), {})
    tokens = json.loads((keystore / "clients.json").read_text())["clients"]
    assert settings.listen == "127.0.0.1:8080" and settings.redis_url == ""
    assert len(settings.issuers) == 32 and len(settings.clients) == len(tokens) == 36
    digests = {c.id: c.token_sha256 for c in settings.clients}
    for client in tokens:
        assert client["token"] not in first and len(client["token"]) >= 22
        assert digests[client["id"]] == hashlib.sha256(client["token"].encode()).digest()
    assert {c.id for c in settings.clients} >= {"rail-12306", "aviation-caac", "terminal-440000"}
    assert main(["config", "--keystore", str(keystore), "--out", str(toml)]) == 0
    assert toml.read_text() == first  # the keystore is reused, not remade
    assert "using the keystore" in capsys.readouterr().out


def test_show_tokens_only_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``config --show-tokens`` once rewrote the config, and reset its ``listen``."""
    keystore, toml = tmp_path / "ks", tmp_path / "hcgw.toml"
    assert main(["config", "--show-tokens", "--keystore", str(keystore), "--out", str(toml)]) == 2
    assert "no keystore at" in capsys.readouterr().err and not toml.exists()
    argv = ["config", "--keystore", str(keystore), "--out", str(toml), "--listen", "[::1]:9443"]
    assert main(argv) == 0
    first = toml.read_text()
    capsys.readouterr()
    assert main(["config", "--show-tokens", "--keystore", str(keystore), "--out", str(toml)]) == 0
    assert toml.read_text() == first  # listen is still [::1]:9443
    tokens = json.loads((keystore / "clients.json").read_text())["clients"]
    out = capsys.readouterr().out
    assert all(f"{c['id']} " in out and c["token"] in out for c in tokens)
    assert "wrote" not in out


def test_an_unreachable_hub_is_one_clear_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keystore = tmp_path / "ks"
    assert main(["config", "--keystore", str(keystore), "--out", str(tmp_path / "c.toml")]) == 0
    capsys.readouterr()
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["run", "--hub", url, "--keystore", str(keystore), "--ticks", "20"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"provinces_sim: the hub at {url} is unreachable (GET /v1/issuers/")


async def test_a_refused_message_names_the_issuer_and_the_spec_error_code(
    tmp_path: Path, redis_url: str
) -> None:
    write_corpus(tmp_path / "c", CorpusOptions(codes=20, scale=1e-7))
    stranger = World.create(seed=0, scale=1e-7, now=0)  # another world: other upload keys
    async with sim_hub(stranger, redis_url) as url:
        with pytest.raises(HubRefused) as refused:
            await prime(tmp_path / "c", url)
    assert refused.value.error == "bad_signature" and refused.value.status == 403
    assert str(refused.value).startswith(f"hub refused key.add for {refused.value.who}: 403 bad_")


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_leaves_its_reports(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "provinces_sim", "demo", "--minutes", "0", "--ticks", "24",
         "--scale", "1e-6", "--trips", "100", "--burst-seconds", "0.5",
         "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    (run_dir,) = tmp_path.iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["passed"] and report["oracle"]["mismatches"] == 0
    assert report["oracle"]["verdicts_checked"] > report["scans"] > 0
    assert report["burst"]["codes"] > 0 and len(report["provinces"]) == 32
    sm2 = [p for p in report["provinces"] if p["alg"] == "SM2"]
    assert len(sm2) == 8 and all(p["scans"] > 0 and p["mismatches"] == 0 for p in sm2)  # sweep
    assert {alg: a["issuers"] for alg, a in report["algorithms"].items()} == {
        "Ed25519": 13, "ES256": 11, "SM2": 8,
    }  # fmt: skip
    assert report["algorithms"]["SM2"]["scans"] == sum(p["scans"] for p in sm2)
    assert "ORACLE: 0 mismatches" in result.stdout and "PASS" in result.stdout
    assert re.search(r"^dashboard: http://127\.0\.0\.1:\d+/dashboard ", result.stdout, re.M)
    assert str(run_dir / "report.txt") in result.stdout
    assert "hub restart: kill -9" in (run_dir / "report.txt").read_text()
    world = World.open(run_dir / "keystore")
    world.populate()
    assert files_holding(run_dir, id_numbers(world)) == {}
