"""``sample``: a few real codes, in every body form, and the token to verify them with.

For a newcomer with curl and no Python: the simulated issuers' current keys are registered with
the hub (as ``run`` does at its start; a key the hub already holds is left as it is), one code is
issued by an Ed25519, an ES256 and an SM2 province each, and everything a ``curl`` needs is
written to one directory:

    code.txt       the first code in text form, ``HCM1:…`` (a ``text/plain`` body)
    code.msgpack   the same code's envelope bytes (an ``application/msgpack`` body)
    code.json      ``{"code": "HCM1:…"}``
    batch.json     ``{"codes": [...]}``, every sample code
    batch.msgpack  the same as a msgpack array of bin
    env            ``HCGW_HUB``, ``HCGW_TOKEN`` and ``HCGW_CODE`` for ``. DIR/env``

The token is the rail client's (scopes ``verify`` and ``trustlist``), so the trust list can be
fetched with it too. Each code is verified once through the hub before it is printed, so what the
newcomer pastes is known to answer.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from provinces_sim.crypto import ALGS
from provinces_sim.hub import HubApi, Verdict
from provinces_sim.keylife import KeyKeeper
from provinces_sim.oracle import HubModel
from provinces_sim.wire import pack, text_form
from provinces_sim.world import RAIL_CLIENT, World

LIFETIME = 86_400  # the longest SPEC §3.1 allows: the samples last a day


@dataclass(frozen=True, slots=True)
class SampleCode:
    iss: str
    province: str
    alg: str
    envelope: bytes
    verdict: Verdict

    @property
    def text(self) -> str:
        return text_form(self.envelope)


@dataclass(frozen=True, slots=True)
class Sample:
    hub: str
    token: str
    codes: list[SampleCode]
    out: Path

    def summary(self) -> str:
        lines = [f"{len(self.codes)} sample codes, valid for a day; the hub says:"]
        for c in self.codes:
            v = self.verdict_line(c.verdict)
            lines.append(f"  {c.iss} {c.province} ({c.alg}): {v}")
            lines.append(f"    {c.text}")
        q = shlex.quote
        lines += [
            f"token (client {RAIL_CLIENT}, scopes verify and trustlist): {self.token}",
            f"bodies and env in {self.out}/; next:",
            f"  . {q(str(self.out / 'env'))}",
            '  curl -s -H "Authorization: Bearer $HCGW_TOKEN" -H "Content-Type: text/plain" '
            '--data-binary "$HCGW_CODE" "$HCGW_HUB/v1/verify"',
        ]
        return "\n".join(lines)

    @staticmethod
    def verdict_line(verdict: Verdict) -> str:
        if verdict.get("valid"):
            return f"valid, {verdict.get('colour')}"
        return f"invalid, {verdict.get('reason')}"


def _pick(world: World, count: int) -> list[str]:
    """One issuer per algorithm first, then the others in census order."""
    by_alg = [next(i.iss for i in world.issuers.values() if i.alg == alg) for alg in ALGS]
    rest = [iss for iss in world.issuers if iss not in by_alg]
    return (by_alg + rest)[:count]


async def make_sample(keystore: Path, hub_url: str, out: Path, *, count: int = 3) -> Sample:
    world = World.open(keystore)
    world.populate()
    client = world.clients[RAIL_CLIENT]
    chosen = _pick(world, count)
    now = int(time.time())
    codes = []
    async with HubApi(hub_url) as hub:
        keeper = KeyKeeper(hub, HubModel(frozenset(world.issuers)), time.time)
        for iss in chosen:
            await keeper.ensure(world.issuers[iss])
        world.save(keystore)  # a planned key became the active one
        for iss in chosen:
            issuer = world.issuers[iss]
            code = issuer.issue(issuer.residents[0], now, LIFETIME)
            verdict = await hub.verify(client, code.envelope, "text")
            codes.append(SampleCode(iss, issuer.province.name, issuer.alg, code.envelope, verdict))
    _write(out, hub_url, client.token, codes)
    return Sample(hub_url, client.token, codes, out)


def _write(out: Path, hub_url: str, token: str, codes: list[SampleCode]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    first = codes[0]
    (out / "code.txt").write_text(first.text + "\n", encoding="ascii")
    (out / "code.msgpack").write_bytes(first.envelope)
    (out / "code.json").write_text(json.dumps({"code": first.text}) + "\n", encoding="ascii")
    texts = [c.text for c in codes]
    (out / "batch.json").write_text(json.dumps({"codes": texts}) + "\n", encoding="ascii")
    (out / "batch.msgpack").write_bytes(pack([c.envelope for c in codes]))
    env = out / "env"
    q = shlex.quote
    env.write_text(
        f"HCGW_HUB={q(hub_url.rstrip('/'))}\nHCGW_TOKEN={q(token)}\nHCGW_CODE={q(first.text)}\n"
        "export HCGW_HUB HCGW_TOKEN HCGW_CODE\n",
        encoding="ascii",
    )
    env.chmod(0o600)  # it holds a bearer token
