"""The dashboard in a real browser: headless Chromium (Debian ``chromium``) driven over the
DevTools protocol loads /dashboard from a hub with all 32 issuers enrolled, with no console error,
draws the 32 tiles, and its numbers move while traffic flows and end at exactly what was sent.
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
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from factory import MSGPACK, NOW, Issuer, World, bearer, pack
from gateway.core.crypto import generate_private_key
from gateway.core.model import Alg, IssuerCode
from gateway.operator.tiles import TILES

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


def national_world() -> World:
    world = World()
    for tile in TILES:
        iss = IssuerCode(tile.iss)
        world.issuers[iss] = Issuer(
            iss, generate_private_key(Alg.ED25519), generate_private_key(Alg.ED25519)
        )
    return world


async def test_the_dashboard_loads_clean_shows_32_tiles_and_follows_the_traffic(
    make_hub, browser
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

    async with session.get(f"{devtools_url}/json/list") as r:
        pages = [t for t in await r.json() if t["type"] == "page"]
    async with session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
        tab = DevTools(ws)
        for domain in ("Runtime", "Log", "Page"):
            await tab.call(f"{domain}.enable")
        await tab.call(
            "Emulation.setDeviceMetricsOverride",
            width=1600,
            height=1300,
            deviceScaleFactor=1,
            mobile=False,
        )
        await tab.call("Page.navigate", url=f"http://127.0.0.1:{hub.server.port}/dashboard")
        await tab.until("document.body && Number(document.body.dataset.polls || 0) >= 2")
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
                col = 2 if red else 1 if rng.random() < 0.03 else 0
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
            assert all(r.status == 200 for r in await asyncio.gather(*calls))
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
        await tab.close()
