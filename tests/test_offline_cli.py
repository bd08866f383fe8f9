"""``hcgw trustlist fetch|show`` and ``hcgw verify --offline`` as a terminal runs them: real
processes against a real ``hcgw serve``, one-line errors and the documented exit codes."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factory import BJ, GD, MSGPACK, TRUST_TOKEN, VERIFY_TOKEN, World
from gateway.core.crypto import PrivateKey, generate_private_key
from gateway.core.model import Alg
from gateway.core.trust import KeyRecord, TrustSnapshot
from gateway.core.trustlist import build_trust_list
from gateway.core.wire import encode_b64url, encode_text
from gateway.offline.store import LIST_FILE, TrustStore
from gateway.offline.verifier import read_trust_list
from gateways import GatewayProcess

pytestmark = pytest.mark.slow


def hcgw(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("hcgw: ")
    return result.stderr


def post(url: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url + path, data=body, headers=headers, method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 - loopback
        answer: dict[str, Any] = json.loads(r.read())
        return answer


class Hub:
    def __init__(self, gateway: GatewayProcess, world: World) -> None:
        self.gateway, self.world, self.url = gateway, world, gateway.url

    def add(self, iss: str, key: PrivateKey | None = None) -> None:
        now = int(time.time())
        body = self.world.key_add(iss, key, nbf=now - 3600, naf=now + 86_400, now=now)
        post(self.url, f"/v1/issuers/{iss}/keys", body, MSGPACK)

    def revoke(self, iss: str, kid: bytes) -> None:
        body = self.world.message(iss, "key.revoke", kid=kid, now=int(time.time()))
        post(self.url, f"/v1/issuers/{iss}/keys/revoke", body, MSGPACK)

    def code(self, iss: str = GD, **kw: Any) -> str:
        now = int(time.time())
        return encode_text(self.world.code(iss, iat=now, exp=now + 300, **kw))

    def online(self, code: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {VERIFY_TOKEN}", "Content-Type": "text/plain"}
        return post(self.url, "/v1/verify", code.encode(), headers)


@pytest.fixture
def hub(redis_url: str, tmp_path: Path) -> Iterator[Hub]:
    world = World.make()
    gateway = GatewayProcess(world, tmp_path, redis_url, "hub")
    gateway.start()
    try:
        hub = Hub(gateway, world)
        hub.add(GD)
        hub.add(BJ)
        yield hub
    finally:
        gateway.stop()


def fetch(
    hub: Hub, store: Path, *extra: str, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    return hcgw(
        "trustlist", "fetch", "--url", url or hub.url, "--token", TRUST_TOKEN,
        "--store", str(store), *extra,
    )  # fmt: skip


def test_a_terminal_pins_fetches_and_verifies_offline(hub: Hub, tmp_path: Path) -> None:
    store = tmp_path / "terminal"
    unpinned = fetch(hub, store)
    assert unpinned.returncode == 2 and "no hub key pinned" in one_line_error(unpinned)

    first = fetch(hub, store, "--pin")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("trust list kept version 3 in ")
    assert "3 issuers, 2 keys (0 revoked); signed " in first.stdout and "expires " in first.stdout
    again = fetch(hub, store, "--json")
    doc = json.loads(again.stdout)
    assert again.returncode == 0 and doc["changed"] is False  # a 304 on the held ETag
    assert (doc["version"], doc["keys"], doc["stale"]) == (3, 2, False)
    assert doc["expires_in"] > 3500

    revoked = generate_private_key(Alg.ED25519)
    good, bad = hub.code(GD), hub.code(GD, key=revoked)
    hub.add(GD, revoked)
    hub.revoke(GD, revoked.public.kid)
    assert fetch(hub, store).stdout.startswith("trust list kept version 5 ")
    result = hcgw("verify", "--offline", "--store", str(store), good, bad)
    assert result.returncode == 1, result.stderr  # one code is not valid
    lines = result.stdout.splitlines()
    assert lines[0].startswith("offline, against trust list version 5 (signed ")
    assert "statuses NOT checked" in lines[0]
    assert lines[1].startswith("#1  VALID green (code's own colour)  iss 440000  kid ")
    assert lines[2].startswith("#2  INVALID KEY_REVOKED  iss 440000  kid ")

    as_json = hcgw("verify", "--offline", "--json", "--store", str(store), "-", stdin=good + "\n")
    assert as_json.returncode == 0
    doc = json.loads(as_json.stdout)
    assert (doc["offline"], doc["status_checked"], doc["trust_list"]["version"]) == (True, False, 5)
    (verdict,) = doc["verdicts"]
    online = hub.online(good)
    assert {k: verdict[k] for k in online} == online
    assert (verdict["offline"], verdict["status_checked"], verdict["stale"]) == (True, False, False)

    shown = hcgw("trustlist", "show", "--store", str(store))
    assert shown.returncode == 0 and "revoked" in shown.stdout
    assert encode_b64url(revoked.public.kid) in shown.stdout


def test_a_replayed_older_list_is_refused_and_the_held_one_kept(hub: Hub, tmp_path: Path) -> None:
    store = tmp_path / "terminal"
    assert fetch(hub, store, "--pin").returncode == 0
    old = (store / LIST_FILE).read_bytes()
    hub.add(GD, generate_private_key(Alg.ED25519))
    assert fetch(hub, store).returncode == 0
    held = (store / LIST_FILE).read_bytes()
    with replaying(old) as mirror:
        result = fetch(hub, store, url=mirror)
    assert result.returncode == 4
    assert "version 3, older than version 4 held" in one_line_error(result)
    assert (store / LIST_FILE).read_bytes() == held


def test_a_list_not_signed_by_the_pinned_key_is_refused(hub: Hub, tmp_path: Path) -> None:
    other = generate_private_key(Alg.ES256).public
    keyfile = tmp_path / "other-key.json"
    keyfile.write_text(json.dumps({"alg": "ES256", "spki": encode_b64url(other.spki)}))
    store = tmp_path / "terminal"
    result = fetch(hub, store, "--key", str(keyfile))
    assert result.returncode == 4 and "not by the pinned hub key" in one_line_error(result)
    assert not (store / LIST_FILE).exists()
    repin = fetch(hub, store, "--pin")  # the key pinned first stays pinned
    assert repin.returncode == 2 and "pins another hub key" in one_line_error(repin)


def test_a_held_list_changed_on_disk_is_refused(hub: Hub, tmp_path: Path) -> None:
    store = tmp_path / "terminal"
    assert fetch(hub, store, "--pin").returncode == 0
    path = store / LIST_FILE
    path.write_bytes(path.read_bytes().replace(b"\xa7revoked\xc2", b"\xa7revoked\xc3", 1))
    result = hcgw("verify", "--offline", "--store", str(store), hub.code())
    assert result.returncode == 2
    assert "does not verify under the pinned key" in one_line_error(result)


def test_the_hub_unreachable_or_refusing_is_one_line_and_exit_3(hub: Hub, tmp_path: Path) -> None:
    store = tmp_path / "terminal"
    down = fetch(hub, store, "--pin", url="http://127.0.0.1:9")
    assert down.returncode == 3 and "unreachable" in one_line_error(down)
    assert fetch(hub, store, "--pin").returncode == 0
    wrong = hcgw("trustlist", "fetch", "--url", hub.url, "--token", "x" * 40, "--store", str(store))
    assert wrong.returncode == 3 and "401 unauthenticated" in one_line_error(wrong)
    nothing = hcgw("verify", "--offline", "--store", str(tmp_path / "empty"), hub.code())
    assert nothing.returncode == 2 and "no hub key pinned" in one_line_error(nothing)


def test_a_stale_list_still_verifies_and_says_so(tmp_path: Path) -> None:
    world = World.make()
    hub_key = generate_private_key(Alg.ED25519)
    code_key = world.issuers[GD].code_key
    now = int(time.time())
    snapshot = TrustSnapshot.build(
        7,
        [i.iss for i in world.issuers.values()],
        [KeyRecord(GD, code_key.public, now - 86_400, now + 86_400)],
    )
    signed = build_trust_list(snapshot, hub_key, now - 7200)
    store = TrustStore(tmp_path / "terminal")
    store.pin(hub_key.public)
    store.keep(read_trust_list(signed, hub_key.public), None)
    code = encode_text(world.code(GD, iat=now, exp=now + 300))
    result = hcgw("verify", "--offline", "--store", str(store.directory), code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "version 8" in lines[0] and "expired " in lines[0]
    assert lines[1].startswith("STALE: the list expired 60 min ago; codes still verify")
    assert lines[2].startswith("#1  VALID green")
    doc = json.loads(
        hcgw("verify", "--offline", "--json", "--store", str(store.directory), code).stdout
    )
    assert doc["trust_list"]["stale"] is True and doc["verdicts"][0]["stale"] is True


def test_verify_needs_offline_and_codes() -> None:
    for args in (("verify", "HCM1:AA"), ("verify", "--offline")):
        result = hcgw(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "error:" in result.stderr


class replaying:
    """A loopback server that answers GET /v1/trustlist with the bytes it was given."""

    def __init__(self, body: bytes) -> None:
        body_ = body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/msgpack")
                self.send_header("Content-Length", str(len(body_)))
                self.end_headers()
                self.wfile.write(body_)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
