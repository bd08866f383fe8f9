"""Verifier clients at work: scans sent as single calls or batches, each verdict checked.

Destination terminals mostly scan one code at a time, as msgpack, QR text or JSON in turn;
rail and aviation send boarding lists as batches. The oracle's expectation for a code is
taken just before its request is sent; nothing the oracle reads changes while scans are in
flight (the scenario pushes statuses and changes keys only between scan rounds).
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from provinces_sim.codes import IssuedCode
from provinces_sim.errors import HubRefused, HubUnreachable
from provinces_sim.hub import HubApi
from provinces_sim.keystore import Client
from provinces_sim.oracle import HubModel, expect
from provinces_sim.tally import Tally

BATCH = 200  # a boarding list; SPEC §5 allows up to 1,000
FORMS = ("msgpack", "text", "json")


@dataclass(frozen=True, slots=True)
class Scan:
    client: Client
    code: IssuedCode


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
    ) -> None:
        self._hub = hub
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
        except (HubRefused, HubUnreachable) as exc:
            self._tally.record_unanswered(1, exc)
            return
        self._tally.requests["single"] += 1
        self._tally.record(code, client, expected, verdict)

    async def _batch(self, client: Client, codes: list[IssuedCode]) -> None:
        now = int(self._clock())
        expected = [expect(c, self._model, now) for c in codes]
        try:
            verdicts: list[Any] = await self._hub.verify_batch(client, [c.envelope for c in codes])
        except (HubRefused, HubUnreachable) as exc:
            self._tally.record_unanswered(len(codes), exc)
            return
        self._tally.requests["batch"] += 1
        if not isinstance(verdicts, list) or len(verdicts) != len(codes):
            verdicts = [None] * len(codes)  # a wrong-shaped answer: every code mismatches
        for code, want, got in zip(codes, expected, verdicts, strict=True):
            self._tally.record(code, client, want, got)
