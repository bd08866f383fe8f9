"""The dashboard in a real browser: headless Chromium (Debian ``chromium``) driven over the
DevTools protocol loads /dashboard from a hub with all 32 issuers enrolled, with no console error,
draws the 32 tiles, and its numbers move while traffic flows and end at exactly what was sent;
401s show on the error panel, the red share on its own chart with a time axis, and a revocation
stays in the filtered event list behind a flood of status pushes.
The screenshot is saved as test-artifacts/dashboard.png (docs/dashboard.png is a copy of one).

Skipped, with the reason, when Chromium is absent (Debian: ``apt-get install chromium``;
``fonts-wqy-zenhei`` or another CJK font for readable Chinese labels in the screenshot).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from factory import BJ, GD, MSGPACK, NOW, Issuer, World, bearer, pack
from gateway.core.crypto import generate_private_key
from gateway.core.model import Alg, IssuerCode
from gateway.operator.tiles import TILES
from hubtest import MakeHub

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package)"),
]
# SPEC §1: resident populations (millions), to weight the simulated traffic.
POPULATION = {
    "440000": 126.0, "370000": 101.5, "410000": 99.4, "320000": 84.7, "510000": 83.7,
    "130000": 74.6, "430000": 66.4, "330000": 64.6, "340000": 61.0, "420000": 57.8,
    "450000": 50.1, "530000": 47.2, "360000": 45.2, "210000": 42.6, "350000": 41.5,
    "610000": 39.5, "520000": 38.6, "140000": 34.9, "500000": 32.1, "230000": 31.9,
    "650000": 25.9, "620000": 25.0, "310000": 24.9, "220000": 24.1, "150000": 24.0,
    "110000": 21.9, "120000": 13.9, "460000": 10.1, "640000": 7.2, "630000": 5.9,
    "540000": 3.6, "660000": 3.3,
}  # fmt: skip
HUBEI = "420000"
SECONDS = float(os.environ.get("HCGW_DASHBOARD_SECONDS", "4.5"))  # longer for docs/dashboard.png


class DevTools:
    """The few DevTools protocol calls this test needs, over one page's websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            doc = json.loads(message.data)
            if "id" in doc:
                self._waiting.pop(doc["id"]).set_result(doc)
            else:
                self.events.append(doc)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        answer = self._waiting[self._next] = asyncio.get_running_loop().create_future()
        await self._ws.send_json({"id": self._next, "method": method, "params": params})
        doc = await asyncio.wait_for(answer, 30)
        assert "error" not in doc, doc
        return dict(doc["result"])

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def until(self, expression: str, within: float = 15.0) -> Any:
        deadline = time.monotonic() + within
        while not (value := await self.evaluate(expression)):
            assert time.monotonic() < deadline, f"never true: {expression}"
            await asyncio.sleep(0.1)
        return value

    def problems(self) -> list[str]:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(p["exceptionDetails"])[:500])
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append(json.dumps(p["args"])[:500])
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(json.dumps(p["entry"])[:500])
        return out

    async def close(self) -> None:
        self._reader.cancel()
        await self._ws.close()


def launch_chromium(profile: Path, log_path: Path) -> subprocess.Popen[bytes]:
    assert CHROMIUM is not None
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    profile = tmp_path / "chromium"
    process = launch_chromium(profile, tmp_path / "chromium.log")
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None, (tmp_path / "chromium.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def open_dashboard(
    session: aiohttp.ClientSession, devtools_url: str, port: int
) -> AsyncIterator[DevTools]:
    """Chromium's first tab at 1600 px wide on the hub's /dashboard, once it has polled twice."""
    async with session.get(f"{devtools_url}/json/list") as r:
        pages = [t for t in await r.json() if t["type"] == "page"]
    async with session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
        tab = DevTools(ws)
        try:
            for domain in ("Runtime", "Log", "Page"):
                await tab.call(f"{domain}.enable")
            await tab.call(
                "Emulation.setDeviceMetricsOverride",
                width=1600,
                height=1300,
                deviceScaleFactor=1,
                mobile=False,
            )
            await tab.call("Page.navigate", url=f"http://127.0.0.1:{port}/dashboard")
            await tab.until("document.body && Number(document.body.dataset.polls || 0) >= 2")
            yield tab
        finally:
            await tab.close()


def national_world() -> World:
    world = World()
    for tile in TILES:
        iss = IssuerCode(tile.iss)
        world.issuers[iss] = Issuer(
            iss, generate_private_key(Alg.ED25519), generate_private_key(Alg.ED25519)
        )
    return world


async def test_the_dashboard_loads_clean_shows_32_tiles_and_follows_the_traffic(
    make_hub: MakeHub, browser: tuple[aiohttp.ClientSession, str]
) -> None:
    session, devtools_url = browser
    world = national_world()
    hub = await make_hub(world)
    for iss in POPULATION:
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=world.key_add(iss), headers=MSGPACK)
        assert r.status == 201
    spare = generate_private_key(Alg.ED25519)  # Hubei signs with this one after a revocation
    for path, body in (
        (f"{HUBEI}/keys", world.key_add(HUBEI, spare)),
        (
            f"{HUBEI}/keys/revoke",
            world.message(HUBEI, "key.revoke", kid=world.issuers[HUBEI].code_key.public.kid),
        ),
        ("110000/status", world.status("110000", [[bytes(16), 1, 2, NOW - 20]])),
    ):
        r = await hub.post(f"/v1/issuers/{path}", data=body, headers=MSGPACK)
        assert r.status in (200, 201)

    assert hub.port is not None  # the test server has started
    async with open_dashboard(session, devtools_url, hub.port) as tab:
        assert await tab.evaluate("document.querySelectorAll('#tiles .tile').length") == 32
        assert await tab.evaluate("document.querySelectorAll('#tiles .tile.off').length") == 0
        assert await tab.evaluate("document.getElementById('total').textContent") == "0"

        rng = random.Random(2020)
        issuers, weights = list(POPULATION), list(POPULATION.values())
        seen: list[bytes] = []  # codes already scanned once: scanned again, they hit a cache
        sent = ticks = 0
        rates_seen = set()
        started = time.monotonic()
        while time.monotonic() < started + SECONDS:
            late = time.monotonic() > started + SECONDS - 2.5  # then Hubei turns red
            codes = []
            for iss in rng.choices(issuers, weights, k=40):
                if seen and rng.random() < 0.35:
                    codes.append(rng.choice(seen))
                    continue
                red = iss == HUBEI and late and rng.random() < 0.7
                col = 2 if red or rng.random() < 0.01 else 1 if rng.random() < 0.03 else 0
                codes.append(world.code(iss, col=col, key=spare if iss == HUBEI else None))
            codes += [world.code(HUBEI), b"junk"]  # KEY_REVOKED and MALFORMED
            seen = (seen + codes[:-2])[-2000:]
            calls = [hub.post("/v1/verify", data=c, headers={**bearer(), **MSGPACK}) for c in codes]
            if ticks % 5 == 0:
                batch = rng.sample(seen, min(50, len(seen)))
                calls.append(
                    hub.post("/v1/verify/batch", data=pack(batch), headers={**bearer(), **MSGPACK})
                )
                sent += len(batch)
            if ticks % 3 == 0:  # a province pushes colour changes decided a few seconds ago
                iss = rng.choice(issuers)
                events = [
                    [rng.randbytes(16), rng.choice((0, 1, 2)), 1, NOW - rng.randint(1, 40)]
                    for _ in range(rng.randint(1, 5))
                ]
                calls.append(
                    hub.post(f"/v1/issuers/{iss}/status", data=world.status(iss, events),
                             headers=MSGPACK)
                )  # fmt: skip
            unauthenticated = [hub.post("/v1/verify", data=c, headers=MSGPACK) for c in codes[:2]]
            answers = await asyncio.gather(*calls, *unauthenticated)
            assert [r.status for r in answers] == [200] * len(calls) + [401] * 2
            sent += len(codes)
            ticks += 1
            rates_seen.add(await tab.evaluate("document.getElementById('rate-total').textContent"))
            await asyncio.sleep(0.1)
        assert len(rates_seen - {"—"}) >= 2  # the rate moved while traffic flowed
        await tab.until(
            f"document.getElementById('total').textContent === {json.dumps(f'{sent:,}')}"
        )
        assert await tab.until(
            f"document.querySelector('#tiles .tile[data-iss=\"{HUBEI}\"]')"
            ".classList.contains('spike')"
        )
        assert await tab.evaluate("document.querySelectorAll('#events tr').length") == 12
        assert float(await tab.evaluate("document.getElementById('rate-errors').textContent")) > 0
        height = (await tab.call("Page.getLayoutMetrics"))["cssContentSize"]["height"]
        await tab.call(
            "Emulation.setDeviceMetricsOverride",
            width=1600,
            height=int(height),
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = await tab.call("Page.captureScreenshot", format="png")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "dashboard.png").write_bytes(base64.b64decode(shot["data"]))
        assert tab.problems() == []


def number(text: str) -> float:
    return float(text.rpartition(" ")[2].rstrip("%").replace(",", ""))


async def test_401s_the_red_share_and_a_revocation_behind_status_pushes_show(
    make_hub: MakeHub, browser: tuple[aiohttp.ClientSession, str]
) -> None:
    session, devtools_url = browser
    hub = await make_hub()
    w = hub.world
    for iss in (GD, BJ):
        r = await hub.post(f"/v1/issuers/{iss}/keys", data=w.key_add(iss), headers=MSGPACK)
        assert r.status == 201
    assert hub.port is not None  # the test server has started
    async with open_dashboard(session, devtools_url, hub.port) as tab:
        kid = w.issuers[BJ].code_key.public.kid
        revoke = w.message(BJ, "key.revoke", kid=kid)
        assert (await hub.post(f"/v1/issuers/{BJ}/keys/revoke", data=revoke, headers=MSGPACK)).ok
        replayed = w.status(GD, [[bytes(16), 1, 1, NOW - 5]])
        for status in (200, 409):  # the second time, a refused write: replay
            r = await hub.post(f"/v1/issuers/{GD}/status", data=replayed, headers=MSGPACK)
            assert r.status == status
        errors_seen, red_seen, pushes = [0.0], [0.0], 0
        started = time.monotonic()
        while time.monotonic() < started + 4.0:  # about 40 x 401/s, 2 % red, 30 pushes/s
            codes = [w.code(GD) for _ in range(49)] + [w.code(GD, col=2)]
            answers = await asyncio.gather(
                *(hub.post("/v1/verify", data=c, headers=MSGPACK) for c in codes[:4]),
                *(hub.post("/v1/verify", data=c, headers={**bearer(), **MSGPACK}) for c in codes),
            )
            assert [r.status for r in answers] == [401] * 4 + [200] * 50
            for _ in range(3):  # one after the other: each needs the seq before it
                update = w.status(GD, [[os.urandom(16), 0, 1, NOW - 1]])
                r = await hub.post(f"/v1/issuers/{GD}/status", data=update, headers=MSGPACK)
                assert r.status == 200
                pushes += 1
            shown = await tab.evaluate(
                "[document.getElementById('rate-errors').textContent,"
                " document.getElementById('errors-401').textContent,"
                " document.getElementById('red-share').textContent]"
            )
            if "—" not in "".join(shown):
                assert number(shown[0]) >= number(shown[1])  # 401s and the replay's 409
                errors_seen.append(number(shown[1]))
                red_seen.append(number(shown[2]))
            await asyncio.sleep(0.1)
        assert pushes > 50  # more than the events list's ring: the revocation left "all"
        assert max(errors_seen) >= 10, errors_seen  # the old page had no such panel
        assert 1.0 <= max(red_seen) <= 3.0, red_seen  # percent: 1 of 50 codes
        # The 401 line and the red share are drawn, over a time axis of the last two minutes.
        for chart, key in (("chart-errors", "401"), ("chart-red", "red")):
            assert await tab.evaluate(
                f"document.querySelector('#{chart} path[data-key=\"{key}\"]') !== null"
            )
            ticks = await tab.evaluate(
                f"[...document.querySelectorAll('#{chart} .xaxis span')].map(s => s.textContent)"
            )
            assert len(ticks) >= 3 and all(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in ticks)

        rows = "[...document.querySelectorAll('#events tr')].map(tr => tr.textContent)"

        async def listed(choice: str) -> list[str]:
            await tab.evaluate(f"document.querySelector('[data-filter=\"{choice}\"]').click()")
            return list(await tab.evaluate(rows))

        kid_b64 = base64.urlsafe_b64encode(kid).rstrip(b"=").decode()
        everything = await listed("all")
        assert len(everything) == 12 and not any(kid_b64 in row for row in everything)
        keys = await listed("keys")
        assert "吊销密钥 key revoked" in keys[0] and kid_b64 in keys[0]
        assert sum("新增密钥 key added" in row for row in keys) == 2
        refusals = await listed("refusals")
        assert len(refusals) == 1 and "拒绝 replay" in refusals[0]
        both = await listed("keys-refusals")
        assert len(both) == 4 and "拒绝 replay" in both[0] and kid_b64 in both[1]
        assert tab.problems() == []
