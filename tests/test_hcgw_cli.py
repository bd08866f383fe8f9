"""The ``hcgw`` command line as an operator meets it: ``--version``, a ``--help`` that lists
only an operator's commands, and ``hcgw token``'s ``[[client]]`` entry, which loads as pasted."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version

from gateway.config import parse_settings


def hcgw(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *argv], capture_output=True, text=True, timeout=60
    )


def test_version_names_the_package_version() -> None:
    done = hcgw("--version")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        rf"hcgw {re.escape(version('hcgw'))} \(git \w+, Python [\d.]+\)\n", done.stdout
    )


def test_help_lists_the_operators_commands_and_not_the_supervisors_worker() -> None:
    done = hcgw("--help")
    assert done.returncode == 0
    assert "worker" not in done.stdout and "SUPPRESS" not in done.stdout, done.stdout
    for command in ("serve", "token", "keygen"):
        assert f"\n    {command} " in done.stdout, done.stdout
    assert "--log-format {json,text}" in hcgw("serve", "--help").stdout


def test_token_prints_a_client_entry_that_loads_as_pasted_and_says_how_it_is_picked_up() -> None:
    done = hcgw("token", "--id", "rail-12306", "--scopes", "verify,trustlist", "--rate", "5000")
    assert done.returncode == 0, done.stderr
    paragraphs = done.stdout.split("\n\n")
    token = paragraphs[1].strip()
    assert len(token) >= 43  # 32 bytes of base64url
    assert "SIGHUP" in done.stdout and "restart" in done.stdout
    block = paragraphs[-1]
    assert block.startswith("[[client]]\n")
    (client,) = parse_settings(tomllib.loads(block), {}).clients
    assert client.id == "rail-12306" and client.scopes == {"verify", "trustlist"}
    assert client.rate == 5000 and client.token_sha256 == hashlib.sha256(token.encode()).digest()
    assert token not in block  # only the digest goes into the config


def test_token_placeholders_load_too_and_a_bad_scope_is_refused() -> None:
    done = hcgw("token")
    (client,) = parse_settings(tomllib.loads(done.stdout.split("\n\n")[-1]), {}).clients
    assert (client.id, client.scopes, client.rate) == ("verifier-1", frozenset({"verify"}), 100.0)
    refused = hcgw("token", "--scopes", "verify,admin")
    assert refused.returncode == 2 and "--scopes" in refused.stderr and not refused.stdout
