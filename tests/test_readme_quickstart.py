"""README.md's quickstart, run as written: config and serve, the provinces, curl, offline.

The blocks are read from README.md (each follows a ``<!-- quickstart:NAME -->`` marker) and
run by ``sh`` in a scratch directory that stands for the clone's root: ``run`` and ``.venv`` are
links to this clone's, so ``./run`` finds the venv the suite runs in and ``var/`` is the scratch
directory's own. There is no ``pyproject.toml`` beside them, so ``./run`` never (re)installs from
the scratch directory into this clone's venv. The only change made to the text is the port: 8080
becomes a free one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.launch import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the quickstart uses curl")


def blocks() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"<!-- quickstart:(\w+) -->\s*```sh\n(.*?)```", text, re.S)
    return dict(found)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    for name in ("run", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def sh(script: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-eu", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if not k.startswith("HCGW_")},
    )


@pytest.fixture
def hub(clone: Path) -> Iterator[tuple[Path, int]]:
    port = free_port()
    config, serve = blocks()["hub"].replace("8080", str(port)).strip().splitlines()
    done = sh(config, clone, 120)
    assert done.returncode == 0, done.stdout + done.stderr
    log = (clone / "serve.log").open("w")
    proc = subprocess.Popen(
        ["sh", "-c", f"exec {serve}"], cwd=clone, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, (clone / "serve.log").read_text()
                assert time.monotonic() < deadline, "the hub was not ready within 60 s"
                time.sleep(0.2)
        yield clone, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_the_quickstart_runs_as_pasted(hub: tuple[Path, int]) -> None:
    clone, port = hub
    quick = {name: text.replace("8080", str(port)) for name, text in blocks().items()}
    assert set(quick) == {"hub", "provinces", "curl", "offline"}, "README's blocks changed"

    provinces = sh(quick["provinces"], clone, 300)
    assert provinces.returncode == 0, provinces.stdout[-3000:] + provinces.stderr[-3000:]
    assert " 0 mismatches" in provinces.stdout and "PASS" in provinces.stdout

    curl = sh(quick["curl"], clone, 120)
    assert curl.returncode == 0, curl.stdout[-3000:] + curl.stderr[-3000:]
    lines = curl.stdout.splitlines()
    assert "valid, green" in curl.stdout or "valid, yellow" in curl.stdout
    decode = json.JSONDecoder().raw_decode  # the 401's line ends in curl's " 401"
    answers = [decode(line)[0] for line in lines if line.startswith(("{", "["))]
    singles = [a for a in answers if isinstance(a, dict) and "valid" in a]
    batches = [a for a in answers if isinstance(a, list)]
    assert len(singles) == 3 and all(v["valid"] for v in singles), answers
    assert len(batches) == 2 and all(len(b) == 3 and all(v["valid"] for v in b) for b in batches)
    assert re.search(r"^200 \d+ bytes$", curl.stdout, re.M), curl.stdout
    assert "\n304\n" in f"\n{curl.stdout}"
    refused = [a for a in answers if isinstance(a, dict) and "error" in a]
    assert [a["error"] for a in refused] == ["unauthenticated"]
    assert lines[-1].endswith(" 401")

    offline = sh(". var/sim/sample/env\n" + quick["offline"], clone, 120)  # the same shell's env
    assert offline.returncode == 0, offline.stdout[-3000:] + offline.stderr[-3000:]
    assert "statuses NOT checked" in offline.stdout
    assert re.search(r"^#1 +VALID ", offline.stdout, re.M), offline.stdout
