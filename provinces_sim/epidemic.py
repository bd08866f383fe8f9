"""Status life: who turns yellow or red, when, and why (the scenario's story, SPEC §4 events).

Colours change by simple seeded rules, counted in ticks:

- calm: now and then someone anywhere turns yellow (a fever at a checkpoint);
- outbreak (from ``Plan.outbreak_at``): in one province's capital many turn yellow and some
  red, and it spreads within the city each tick;
- contact tracing, while the outbreak lasts: residents of other provinces who travelled to the
  outbreak province are turned yellow by their own issuer two ticks later; when a yellow or
  red traveller from the outbreak city is scanned in another province, that province turns a
  few of its own residents yellow (fellow passengers); some of those traced test positive and
  turn red three ticks after;
- recovery (from ``Plan.recovery_at``): red goes to yellow and yellow to green, faster in the
  outbreak city once recovery begins; outside it quarantines end after some ticks.

Every change bumps the resident's ``sv`` and becomes an event ``[sub, colour, sv, at]`` for
its issuer.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from provinces_sim.issuer import Issuer, Resident
from provinces_sim.keystore import Event

GREEN, YELLOW, RED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Plan:
    """When things happen, in ticks, for a run of ``ticks`` ticks."""

    ticks: int
    outbreak_iss: str
    outbreak_at: int
    recovery_at: int
    rotations: dict[int, str]  # tick → issuer whose key rotates
    compromise_at: int
    compromise_iss: str
    restart_at: int | None  # None: no hub restart in this run
    downtime: int

    @classmethod
    def make(
        cls,
        ticks: int,
        rng: random.Random,
        issuers: list[str],
        *,
        outbreak_iss: str,
        compromise_iss: str | None,
        rotations: int,
        restart: bool,
        downtime: int,
    ) -> Plan:
        if ticks < 20:
            raise ValueError("a scenario needs at least 20 ticks for its phases")
        others = [i for i in issuers if i != outbreak_iss]
        compromised = compromise_iss or rng.choice(others)
        rotating = rng.sample([i for i in others if i != compromised], rotations)
        first, span = round(0.30 * ticks), max(1, round(0.15 * ticks))
        return cls(
            ticks=ticks,
            outbreak_iss=outbreak_iss,
            outbreak_at=round(0.10 * ticks),
            recovery_at=round(0.70 * ticks),
            rotations={
                first + (k * span) // max(1, rotations): iss for k, iss in enumerate(rotating)
            },
            compromise_at=round(0.45 * ticks),
            compromise_iss=compromised,
            restart_at=round(0.58 * ticks) if restart else None,
            downtime=downtime,
        )

    def phase(self, tick: int) -> str:
        if tick < self.outbreak_at:
            return "calm"
        if tick < self.recovery_at:
            return "outbreak"
        return "recovery"


class Epidemic:
    def __init__(self, issuers: dict[str, Issuer], plan: Plan, rng: random.Random) -> None:
        self._issuers = issuers
        self._plan = plan
        self._rng = rng
        source = issuers[plan.outbreak_iss]
        self.city = source.province.capital
        self._city_residents = [r for r in source.residents if r.city == self.city]
        self._traced: dict[int, list[Resident]] = defaultdict(list)  # tick → to turn yellow
        self._confirmed: dict[int, list[Resident]] = defaultdict(list)  # tick → to turn red
        self._events: dict[str, list[Event]] = defaultdict(list)
        self.changes = 0

    def change(self, resident: Resident, colour: int, tick: int, now: int) -> None:
        resident.colour = colour
        resident.sv += 1
        resident.since = tick
        self._events[resident.iss].append([resident.sub, colour, resident.sv, now])
        self.changes += 1

    def note_trip(self, traveller: Resident, destination: str, tick: int) -> None:
        """A traveller reached ``destination``: the tracing rules may pick them or others."""
        plan = self._plan
        if plan.phase(tick) != "outbreak":
            return
        if destination == plan.outbreak_iss and traveller.iss != plan.outbreak_iss:
            self._traced[tick + 2].append(traveller)
        elif traveller.city == self.city and traveller.colour != GREEN:
            hosts = self._issuers[destination].residents
            self._traced[tick + 1].extend(self._rng.sample(hosts, min(3, len(hosts))))

    def step(self, tick: int, now: int) -> dict[str, list[Event]]:
        """Decide this tick's changes; → the events, per issuer, in the order decided."""
        rng, plan = self._rng, self._plan
        if tick == plan.outbreak_at:
            for r in self._city_residents:
                roll = rng.random()
                if roll < 0.06:
                    self.change(r, RED, tick, now)
                elif roll < 0.35:
                    self.change(r, YELLOW, tick, now)
        elif plan.phase(tick) == "outbreak":
            for r in self._city_residents:
                if r.colour == GREEN and rng.random() < 0.02:
                    self.change(r, YELLOW, tick, now)
                elif r.colour == YELLOW and tick - r.since >= 3 and rng.random() < 0.05:
                    self.change(r, RED, tick, now)
        for r in self._traced.pop(tick, []):
            if r.colour == GREEN:
                self.change(r, YELLOW, tick, now)
                if rng.random() < 0.08:  # the test comes back positive
                    self._confirmed[tick + 3].append(r)
        for r in self._confirmed.pop(tick, []):
            if r.colour == YELLOW:
                self.change(r, RED, tick, now)
        recovering = plan.phase(tick) == "recovery"
        for issuer in self._issuers.values():
            in_outbreak = issuer.iss == plan.outbreak_iss
            for r in issuer.residents:
                if in_outbreak and r.city == self.city and not recovering:
                    continue
                fast = recovering and in_outbreak and r.city == self.city
                wait = 2 if fast else 8
                if r.colour == RED and tick - r.since >= wait + 2 and rng.random() < 0.2:
                    self.change(r, YELLOW, tick, now)
                elif r.colour == YELLOW and tick - r.since >= wait and rng.random() < 0.25:
                    self.change(r, GREEN, tick, now)
                elif r.colour == GREEN and rng.random() < 0.0004:
                    self.change(r, YELLOW, tick, now)
        events, self._events = dict(self._events), defaultdict(list)
        return events

    def baseline(self, issuer: Issuer, sv: int, now: int) -> list[Event]:
        """Every resident green at ``sv``: how a run starts on a hub that holds older
        statuses for the same people, so the hub's state is known again."""
        events: list[Event] = []
        for r in issuer.residents:
            r.colour, r.sv = GREEN, sv
            events.append([r.sub, GREEN, sv, now])
        return events
