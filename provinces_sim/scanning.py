"""Verifier clients at work: scans sent as single calls or batches, each verdict checked.

Destination terminals mostly scan one code at a time, as msgpack, QR text or JSON in turn;
rail and aviation send boarding lists as batches. The oracle's expectation for a code is
taken just before its request is sent; nothing the oracle reads changes while scans are in
flight (the scenario pushes statuses and changes keys only between scan rounds).

A terminal that cannot reach the hub verifies offline (SPEC §6) with the trust list its
province's mirror fetched last (:class:`OfflineTerminals`), and the oracle checks that verdict
against the keys the hub held at that fetch, without statuses. This is the simulator's one use
of the gateway's code: ``gateway.offline.verifier``, which a real terminal would import, as the
thing under test; the oracle that judges it never imports the gateway (pyproject.toml).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.offline.verifier import ListRefused, OfflineVerifier, hub_key_from_spki
from provinces_sim.codes import IssuedCode
from provinces_sim.errors import HubRefused, HubUnreachable
from provinces_sim.hub import HubApi
from provinces_sim.keystore import Client
from provinces_sim.oracle import HubModel, expect, expect_offline, outcome
from provinces_sim.tally import Tally
from provinces_sim.wire import from_b64url

BATCH = 200  # a boarding list; SPEC §5 allows up to 1,000
FORMS = ("msgpack", "text", "json")


@dataclass(frozen=True, slots=True)
class Scan:
    client: Client
    code: IssuedCode


class OfflineTerminals:
    """The terminals' fallback: the hub's key pinned at start, the newest list accepted since,
    fetched by the trust mirror with its ``trustlist`` scope, and the oracle's view of the keys
    at that fetch. ``gateway.offline.verifier`` refuses a list older than the one held or not
    signed by the pinned key (``ListRefused``): the scenario reports that as a failure."""

    def __init__(self, hub: HubApi, mirror: Client, model: HubModel) -> None:
        self._hub = hub
        self._mirror = mirror
        self._model = model
        self._verifier: OfflineVerifier | None = None
        self.view: HubModel | None = None  # the model as the held list shows it
        self.version = 0  # the held list's
        self.outcomes: Counter[str] = Counter()  # offline verdicts: colour or reason

    @property
    def ready(self) -> bool:
        return self.view is not None

    async def pin(self) -> None:
        doc = await self._hub.trust_key()
        self._verifier = OfflineVerifier(hub_key_from_spki(from_b64url(doc["spki"]), doc["alg"]))

    async def refresh(self) -> str | None:
        """Fetch the list, only between scan rounds (when the model is what the hub holds);
        ``None``, or why the list was refused (older than the one held, another signer)."""
        assert self._verifier is not None, "pin the hub's key first"
        envelope = await self._hub.trust_list(self._mirror)
        try:
            self.version = self._verifier.offer(envelope).version
        except ListRefused as exc:
            return str(exc)
        self.view = self._model.offline_view()
        return None

    def verify(self, code: IssuedCode, now: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """(what the oracle expects, what the terminal answered) for one code, offline."""
        assert self._verifier is not None, "pin the hub's key first"
        assert self.view is not None, "fetch a list first"
        verdict = self._verifier.verify(code.envelope, now)
        self.outcomes[outcome(verdict)] += 1
        return expect_offline(code, self.view, now), verdict


class Scanner:
    def __init__(
        self,
        hub: HubApi,
        model: HubModel,
        tally: Tally,
        clock: Callable[[], float],
        rng: random.Random,
        *,
        terminal_single_share: float = 0.75,
        offline: OfflineTerminals | None = None,
    ) -> None:
        self._hub = hub
        self._offline = offline
        self._model = model
        self._tally = tally
        self._clock = clock
        self._rng = rng
        self._single_share = terminal_single_share

    async def scan(self, scans: Sequence[Scan]) -> None:
        by_client: dict[str, list[Scan]] = defaultdict(list)
        for s in scans:
            by_client[s.client.id].append(s)
        calls = []
        for group in by_client.values():
            client = group[0].client
            if client.kind == "terminal":
                batched = []
                for s in group:
                    if self._rng.random() < self._single_share:
                        calls.append(self._single(client, s.code, self._rng.choice(FORMS)))
                    else:
                        batched.append(s.code)
                if batched:
                    calls.append(self._batch(client, batched))
            else:
                for start in range(0, len(group), BATCH):
                    calls.append(
                        self._batch(client, [s.code for s in group[start : start + BATCH]])
                    )
        await asyncio.gather(*calls)

    async def _single(self, client: Client, code: IssuedCode, form: str) -> None:
        expected = expect(code, self._model, int(self._clock()))
        try:
            verdict = await self._hub.verify(client, code.envelope, form)
        except HubUnreachable as exc:
            self._fall_back(client, [code], exc)
            return
        except HubRefused as exc:
            self._tally.record_unanswered(1, exc)
            return
        self._tally.requests["single"] += 1
        self._tally.record(code, client, expected, verdict)

    async def _batch(self, client: Client, codes: list[IssuedCode]) -> None:
        now = int(self._clock())
        expected = [expect(c, self._model, now) for c in codes]
        try:
            verdicts: list[Any] = await self._hub.verify_batch(client, [c.envelope for c in codes])
        except HubUnreachable as exc:
            self._fall_back(client, codes, exc)
            return
        except HubRefused as exc:
            self._tally.record_unanswered(len(codes), exc)
            return
        self._tally.requests["batch"] += 1
        if not isinstance(verdicts, list) or len(verdicts) != len(codes):
            verdicts = [None] * len(codes)  # a wrong-shaped answer: every code mismatches
        for code, want, got in zip(codes, expected, verdicts, strict=True):
            self._tally.record(code, client, want, got)

    def _fall_back(self, client: Client, codes: list[IssuedCode], exc: HubUnreachable) -> None:
        """A terminal with a trust list verifies offline; any other client has no answer."""
        offline = self._offline
        if client.kind != "terminal" or offline is None or not offline.ready:
            self._tally.record_unanswered(len(codes), exc)
            return
        now = int(self._clock())
        for code in codes:
            expected, verdict = offline.verify(code, now)
            self._tally.requests["offline"] += 1
            self._tally.record(code, client, expected, verdict)
