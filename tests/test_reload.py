"""SIGHUP re-reads the ``[[client]]`` entries of a running ``hcgw serve`` (1 and 2 workers): a
client pasted from ``hcgw token`` goes from 401 to 200 on every worker, a removed one from 200 to
401, and a file that does not load is refused in one line with the clients as they were."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from factory import GD, VERIFY_TOKEN, World
from gateways import GatewayProcess

pytestmark = pytest.mark.slow


def new_client(client_id: str) -> tuple[str, str]:
    """``hcgw token``'s token and its ``[[client]]`` block, as an operator copies them."""
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "token", "--id", client_id, "--scopes", "verify"],
        capture_output=True,
        text=True,
        check=True,
    )
    token = done.stdout.split("\n\n")[1].strip()
    block = done.stdout.split("\n\n")[-1]  # the last paragraph
    return token, block


def answers_by_worker(port: int, token: str, code: bytes, workers: int) -> dict[int, set[int]]:
    """The statuses of POST /v1/verify with ``token``, by the pid of the worker that answered,
    over fresh connections until every worker answered at least twice."""
    seen: dict[int, list[int]] = {}
    for _ in range(400):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            pid = json.loads(connection.getresponse().read())["pid"]
            connection.request(
                "POST",
                "/v1/verify",
                body=code,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/msgpack",
                },
            )
            answer = connection.getresponse()
            answer.read()
            seen.setdefault(pid, []).append(answer.status)
        finally:
            connection.close()
        if len(seen) == workers and all(len(s) >= 2 for s in seen.values()):
            break
    assert len(seen) == workers, seen
    return {pid: set(statuses) for pid, statuses in seen.items()}


def wait_for_lines(
    gw: GatewayProcess, event: str, count: int, seconds: float = 10
) -> list[dict[str, Any]]:
    """The log's lines of ``event``, once there are ``count`` of them or ``seconds`` passed."""
    deadline = time.monotonic() + seconds
    while True:
        lines = [json.loads(line) for line in gw.log.read_text(encoding="utf-8").splitlines()]
        found = [line for line in lines if line.get("event") == event]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def without_client(toml: str, client_id: str) -> str:
    doc = tomllib.loads(toml)
    doc["client"] = [c for c in doc["client"] if c["id"] != client_id]
    return tomli_w.dumps(doc)


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_adds_and_removes_clients_and_refuses_a_broken_file(
    tmp_path: Path, redis_url: str, workers: int
) -> None:
    world = World.make()
    gw = GatewayProcess(
        world, tmp_path, redis_url, "reload", workers=str(workers), data_dir=str(tmp_path)
    )
    token, block = new_client("newcomer")
    code = world.code(GD)
    gw.start()
    assert gw.process is not None
    try:

        def everywhere(token: str) -> set[int]:
            by_worker = answers_by_worker(gw.port, token, code, workers)
            assert len({frozenset(s) for s in by_worker.values()}) == 1, by_worker
            return set.union(*by_worker.values())

        assert (everywhere(VERIFY_TOKEN), everywhere(token)) == ({200}, {401})
        original = gw.config.read_text()
        assert tomllib.loads(original + "\n" + block)  # the block pastes as it is
        gw.config.write_text(without_client(original, "terminal") + "\n" + block)
        gw.process.send_signal(signal.SIGHUP)
        reloaded = wait_for_lines(gw, "clients_reloaded", workers)
        assert len(reloaded) == workers, gw.log.read_text()[-2000:]
        assert all(line["clients"] == 4 for line in reloaded)
        assert all("(added newcomer; removed terminal)" in line["msg"] for line in reloaded)
        assert (everywhere(VERIFY_TOKEN), everywhere(token)) == ({401}, {200})

        broken = original + "\n" + block.replace("token_sha256 = ", "token_sha256 = 'zz' #")
        gw.config.write_text(broken)
        gw.process.send_signal(signal.SIGHUP)
        time.sleep(0.5)  # time enough for more than the one line below, were there more
        refused = wait_for_lines(gw, "clients_refused", 1)
        assert len(refused) == 1, gw.log.read_text()[-2000:]
        assert refused[0]["level"] == "ERROR" and "token_sha256 = 'zz'" in refused[0]["msg"]
        assert (everywhere(VERIFY_TOKEN), everywhere(token)) == ({401}, {200})
    finally:
        assert gw.stop() == 0
    assert len(wait_for_lines(gw, "clients_reloaded", 0)) == workers  # the broken file: none
