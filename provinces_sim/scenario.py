"""The scenario: a seeded run of the simulated world against a hub, tick by tick.

Before the first tick every issuer reads its mark and registers its keys. Each tick then:

1. key life, when the plan says so (a rotation, the compromise);
2. the hub restart, when the plan says so and a :class:`HubControl` is given: kill -9, a few
   ticks of downtime during which the epidemic goes on and pushes fail, then a start, after
   which every issuer reads its mark and resends what the hub does not hold;
3. status life (``epidemic``), sealed into messages at each issuer's own pace (every 1–3
   ticks, so some codes carry an ``sv`` the hub has not heard of yet) and pushed;
4. travellers: trips by the gravity model, each scanned at its destination by a terminal, the
   railway or an airline, a share of them with bad codes or old screenshots; every verdict is
   checked against the oracle. Before the scans the trust mirror fetches the hub's signed trust
   list for the terminals. While the hub is down, terminals verify offline against it (SPEC
   §6, no statuses, checked by the oracle's ``expect_offline``); rail and aviation wait.

Scans happen only when no status push is in doubt, so the oracle knows exactly what the hub
holds. At the end everything is pushed, every mark is compared with the issuer's last seq, and
a sweep scans an old-``sv`` code of every resident: each must come back in the resident's
current colour, which proves no status was lost end to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from provinces_sim.census import BY_ISS
from provinces_sim.codes import CodeTruth, IssuedCode, Kind
from provinces_sim.crypto import ALGS
from provinces_sim.epidemic import GREEN, Epidemic, Plan
from provinces_sim.errors import HubRefused, HubUnreachable
from provinces_sim.forgery import Forger
from provinces_sim.gravity import Gravity
from provinces_sim.hub import HubApi
from provinces_sim.issuer import Issuer, Resident
from provinces_sim.keylife import KeyKeeper
from provinces_sim.oracle import HubModel
from provinces_sim.scanning import OfflineTerminals, Scan, Scanner
from provinces_sim.statuslog import ChannelStats, StatusChannel
from provinces_sim.tally import Tally
from provinces_sim.wire import b64url
from provinces_sim.world import AVIATION_CLIENT, RAIL_CLIENT, TRUST_CLIENT, World

EXP_MARGIN = 90  # a phone refreshes a code this close to its exp; scans stay clear of it
SWEEP_BATCH = 1000


class HubControl(Protocol):
    """How a scenario restarts the hub it runs against (the demo's process, a test's)."""

    async def kill(self) -> str: ...  # kill -9; → a description for the story

    async def start(self) -> str: ...  # start again, ready to serve; → a description


@dataclass(frozen=True, slots=True)
class Settings:
    ticks: int = 120
    tick_seconds: float = 1.0  # pacing; 0 runs flat out
    lifetime: int = 300  # seconds a code lives
    trips_per_tick: int = 300
    bad_share: float = 0.06
    screenshot_share: float = 0.05
    refresh_ticks: int = 20  # the app fetches a new code at least this often
    outbreak_iss: str = "420000"
    compromise_iss: str | None = None  # None: chosen by the seed
    rotations: int = 4
    downtime: int = 3  # ticks the hub stays down in the restart
    seed: int = 2020


@dataclass(frozen=True, slots=True)
class Progress:
    tick: int
    ticks: int
    phase: str
    elapsed: float
    tally: Tally
    status_events: int
    hub_up: bool


@dataclass
class Outcome:
    tally: Tally
    story: list[str]
    channels: ChannelStats
    keys_added: int
    keys_revoked: int
    marks: dict[str, tuple[int, int]]  # iss → (hub's mark, issuer's last seq)
    lost: int  # residents whose current colour the hub does not hold at the end
    skipped_ticks: int
    seconds: float
    residents: int
    sweep_scans: int
    failures: list[str] = field(default_factory=list)

    @property
    def marks_ok(self) -> bool:
        return all(mark == last for mark, last in self.marks.values())

    @property
    def passed(self) -> bool:
        return (
            self.tally.mismatches == 0
            and self.lost == 0
            and self.marks_ok
            and not self.failures
            and self.sweep_scans == self.residents
        )


class Scenario:
    def __init__(
        self,
        world: World,
        hub: HubApi,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        control: HubControl | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_story: Callable[[str], None] | None = None,
    ) -> None:
        world.populate()
        self.world = world
        self.settings = settings
        self.hub = hub
        self._clock = clock
        self._control = control
        self._on_progress = on_progress
        self._on_story = on_story
        seed = settings.seed
        issuers = list(world.issuers)
        plan_rng = random.Random(f"{seed}:plan")
        self.plan = Plan.make(
            settings.ticks,
            plan_rng,
            issuers,
            outbreak_iss=settings.outbreak_iss,
            compromise_iss=settings.compromise_iss,
            rotations=settings.rotations,
            restart=control is not None,
            downtime=settings.downtime,
        )
        self._push_every = {iss: plan_rng.choice((1, 1, 2, 3)) for iss in issuers}
        self._rng = random.Random(f"{seed}:trips")
        self.model = HubModel(frozenset(issuers))
        self.channels = {i.iss: StatusChannel(i, hub, clock) for i in world.issuers.values()}
        self.model.statuses.update(self.channels)
        self.keys = KeyKeeper(hub, self.model, clock)
        self.epidemic = Epidemic(world.issuers, self.plan, random.Random(f"{seed}:epidemic"))
        self.forger = Forger(world.issuers, random.Random(f"{seed}:forge"), settings.lifetime)
        self.gravity = Gravity({p.iss: p.population_m for p in BY_ISS.values()})
        self.tally = Tally()
        mirror = world.clients.get(TRUST_CLIENT)  # a keystore without one: no offline fallback
        self.terminals = OfflineTerminals(hub, mirror, self.model) if mirror else None
        self.scanner = Scanner(
            hub,
            self.model,
            self.tally,
            clock,
            random.Random(f"{seed}:scan"),
            offline=self.terminals,
        )
        self.story: list[str] = []
        self._first_sv: dict[str, int] = {}
        self._hub_up = True
        self._back_at: int | None = None
        self._skipped = 0
        self._waited = 0  # rail and aviation passengers not scanned while the hub was down
        self._offline_at_kill = 0
        self._failures: list[str] = []
        self._started = time.monotonic()

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> Outcome:
        self._started = time.monotonic()
        await self._bring_up()
        for tick in range(self.settings.ticks):
            await self._tick(tick)
            if self._on_progress is not None:
                self._on_progress(self._progress(tick))
            delay = self._started + (tick + 1) * self.settings.tick_seconds - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return await self._finish()

    def _tell(self, text: str) -> None:
        line = f"[{time.monotonic() - self._started:6.1f}s] {text}"
        self.story.append(line)
        if self._on_story is not None:
            self._on_story(line)

    def _progress(self, tick: int) -> Progress:
        return Progress(
            tick + 1,
            self.settings.ticks,
            self.plan.phase(tick),
            time.monotonic() - self._started,
            self.tally,
            sum(c.stats.events for c in self.channels.values()),
            self._hub_up,
        )

    async def _bring_up(self) -> None:
        await asyncio.gather(*(c.start() for c in self.channels.values()))
        await asyncio.gather(*(self.keys.ensure(i) for i in self.world.issuers.values()))
        if self.terminals is not None:
            await self.terminals.pin()
        now = int(self._clock())
        for issuer in self.world.issuers.values():
            channel = self.channels[issuer.iss]
            if channel.base > 0:  # this hub holds statuses from an earlier run
                channel.add(self.epidemic.baseline(issuer, int(self._clock() * 1000), now))
                channel.seal()
            self._first_sv[issuer.iss] = issuer.residents[0].sv if issuer.residents else 0
        await self._push()
        algs = Counter(i.alg for i in self.world.issuers.values())
        self._tell(
            f"{len(self.world.issuers)} issuers up "
            f"({', '.join(f'{algs[alg]} {alg}' for alg in ALGS if algs[alg])}): {self.keys.added} "
            f"keys registered, {self.keys.already_registered} already held; "
            f"{sum(len(i.residents) for i in self.world.issuers.values()):,} residents"
        )

    async def _tick(self, tick: int) -> None:
        plan, now = self.plan, int(self._clock())
        if tick == plan.restart_at and self._control is not None:
            self._tell(f"hub restart: {await self._control.kill()}")
            self._offline_at_kill = self.tally.requests["offline"]
            self._hub_up, self._back_at = False, tick + plan.downtime
        elif tick == self._back_at and self._control is not None:
            await self._hub_back()
        if self._hub_up:
            if tick in plan.rotations:
                await self._rotate(self.world.issuers[plan.rotations[tick]])
            if tick == plan.compromise_at:
                await self._compromise(self.world.issuers[plan.compromise_iss])
        for iss, events in self.epidemic.step(tick, now).items():
            self.channels[iss].add(events)
        if tick == plan.outbreak_at:
            self._tell_outbreak()
        if tick == plan.recovery_at:
            self._tell("recovery begins: red goes to yellow, yellow to green")
        for iss, channel in self.channels.items():
            if tick % self._push_every[iss] == 0:
                channel.seal()
        await self._push()
        if self._hub_up and await self._settled():
            await self._refresh_terminals()
            await self._travel(tick, now)
        elif not self._hub_up and self.terminals is not None and self.terminals.ready:
            await self._travel(tick, now, hub_down=True)
        else:
            self._skipped += 1

    async def _refresh_terminals(self) -> None:
        """The mirror fetches the list while nothing the oracle knows of keys is in flux."""
        if self.terminals is None:
            return
        try:
            refused = await self.terminals.refresh()
        except (HubUnreachable, HubRefused) as exc:  # the terminals keep the list they hold
            self.tally.errors[f"trust list fetch: {exc}"[:200]] += 1
            return
        if refused is not None:  # SPEC §6: an older list, or another signer
            self._failures.append(f"the terminals refused the hub's trust list: {refused}")

    async def _push(self) -> None:
        results = await asyncio.gather(
            *(c.flush() for c in self.channels.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, HubUnreachable | HubRefused):
                if self._hub_up:  # resent from the mark at the next push; reported, not fatal
                    self.tally.errors[f"status push: {result}"[:200]] += 1
            elif isinstance(result, BaseException):
                raise result

    async def _settled(self) -> bool:
        for channel in self.channels.values():
            if not channel.settled:
                try:
                    await channel.resync()
                except (HubUnreachable, HubRefused):
                    return False
        return True

    # -- events ---------------------------------------------------------------------------

    def _tell_outbreak(self) -> None:
        source = self.world.issuers[self.plan.outbreak_iss]
        city = [r for r in source.residents if r.city == self.epidemic.city]
        reds = sum(r.colour == 2 for r in city)
        yellows = sum(r.colour == 1 for r in city)
        self._tell(
            f"outbreak in {source.province.capital_name} ({source.province.name}): "
            f"{reds} red, {yellows} yellow of {len(city)} residents; contact tracing starts"
        )

    async def _rotate(self, issuer: Issuer) -> None:
        old = issuer.active_key.key
        new = await self.keys.rotate(issuer)
        self._tell(
            f"key rotation at {issuer.province.name}: new {new.key.alg} kid "
            f"{b64url(new.key.kid)} registered, then used; {b64url(old.kid)} retired, its codes "
            "stay valid until they expire"
        )

    async def _compromise(self, issuer: Issuer) -> None:
        now = int(self._clock())
        leaked = issuer.active_key.key
        in_the_wild = [
            issuer.issue(r, now, self.settings.lifetime)
            for r in self._rng.sample(issuer.residents, min(20, len(issuer.residents)))
        ]
        await self.keys.compromise(issuer)
        self.forger.leak(issuer, leaked)
        reissued = 0
        for r in issuer.residents:
            if r.phone is not None and r.phone.truth.kid == leaked.kid:
                in_the_wild.append(r.phone)
                r.phone, r.phone_tick = None, -1
                reissued += 1
        self.forger.capture(in_the_wild)
        self._tell(
            f"key compromise at {issuer.province.name}: kid {b64url(leaked.kid)} revoked after a "
            f"new key was registered; {reissued} phone codes re-issued; the attacker keeps "
            "the leaked key and old codes"
        )

    async def _hub_back(self) -> None:
        assert self._control is not None  # only called when a restart was planned
        if self.terminals is not None and self.terminals.ready:
            self._tell(
                "while the hub was down, terminals verified "
                f"{self.tally.requests['offline'] - self._offline_at_kill:,} "
                f"codes offline against trust list version {self.terminals.version} (statuses "
                f"not checked); {self._waited:,} rail and air passengers waited"
            )
        before = self._sum_stats()
        started = await self._control.start()
        self._hub_up = True
        # A restarted hub may have lost acknowledged statuses, and SPEC §4 puts them back in
        # force only once each issuer has read its mark (at least every 60 s). Every issuer
        # reads it now, before any scan, so the oracle predicts only what SPEC promises; an
        # issuer that had nothing to push would otherwise not know for up to a minute.
        for channel in self.channels.values():
            channel.doubt()
        await self._push()
        after = self._sum_stats()
        resent = after.resends - before.resends
        self._tell(
            f"hub back ({started}); every issuer read its mark: {resent} messages resent, "
            f"{after.sends - before.sends - resent} sent for the first time, "
            f"{after.fallbacks - before.fallbacks} marks had fallen back"
        )

    # -- travellers -------------------------------------------------------------------------

    def _client_for(self, destination: str) -> str:
        roll = self._rng.random()
        if roll < 0.45:
            return RAIL_CLIENT
        if roll < 0.70:
            return AVIATION_CLIENT
        return f"terminal-{destination}"

    def _phone(self, issuer: Issuer, r: Resident, tick: int, now: int) -> IssuedCode:
        code = r.phone
        if (
            code is None
            or code.truth.claims is None
            or tick - r.phone_tick >= self.settings.refresh_ticks
            or code.truth.claims.sv != r.sv
            or code.truth.claims.exp - now < EXP_MARGIN
        ):
            if code is not None:
                r.screenshot = code
            code = r.phone = issuer.issue(r, now, self.settings.lifetime)
            r.phone_tick = tick
        return code

    async def _travel(self, tick: int, now: int, *, hub_down: bool = False) -> None:
        rng, settings = self._rng, self.settings
        kinds = self.forger.kinds()
        if not self.forger.captured:
            kinds.pop(Kind.REPLAYED_REVOKED, None)
        scans = []
        for origin, destination in self.gravity.trips(rng, settings.trips_per_tick):
            issuer = self.world.issuers[origin]
            if not issuer.residents:
                continue
            traveller = issuer.residents[rng.randrange(len(issuer.residents))]
            self.epidemic.note_trip(traveller, destination, tick)
            client = self.world.clients[self._client_for(destination)]
            if hub_down and client.kind != "terminal":
                self._waited += 1
                continue
            roll = rng.random()
            shot = traveller.screenshot
            if roll < settings.bad_share:
                kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
                code = self.forger.make(kind, issuer, traveller, now)
            elif (
                roll < settings.bad_share + settings.screenshot_share
                and shot is not None
                and shot.truth.claims is not None
                and shot.truth.claims.exp - now >= EXP_MARGIN
            ):
                code = IssuedCode(shot.envelope, _relabel(shot, Kind.SCREENSHOT))
            else:
                code = self._phone(issuer, traveller, tick, now)
            scans.append(Scan(client, code))
        await self.scanner.scan(scans)

    # -- the end ----------------------------------------------------------------------------

    async def _finish(self) -> Outcome:
        if not self._hub_up and self._control is not None:
            await self._hub_back()
        for channel in self.channels.values():
            channel.seal()
        for _ in range(3):
            await self._push()
            if all(c.delivered for c in self.channels.values()):
                break
        marks = {}
        for iss, channel in self.channels.items():
            marks[iss] = (await channel.resync(), channel.last_seq)
        if not await self._settled():
            self._failures.append("status channels could not settle at the end")
        lost = sweep_scans = 0
        now = int(self._clock())
        rail = self.world.clients[RAIL_CLIENT]
        batch: list[Scan] = []
        for issuer in self.world.issuers.values():
            channel, first_sv = self.channels[issuer.iss], self._first_sv[issuer.iss]
            for r in issuer.residents:
                held = channel.status_of(r.sub)
                hub_colour = held[0] if held is not None and held[1] >= first_sv else GREEN
                lost += hub_colour != r.colour
                code = issuer.issue(
                    r, now, self.settings.lifetime, kind=Kind.SWEEP, col=GREEN, sv=first_sv
                )
                batch.append(Scan(rail, code))
        for start in range(0, len(batch), SWEEP_BATCH):
            before = self.tally.scans
            await self.scanner.scan(batch[start : start + SWEEP_BATCH])
            sweep_scans += self.tally.scans - before
        self._tell(
            f"the end: every mark at its issuer's last seq: "
            f"{'yes' if all(m == s for m, s in marks.values()) else 'NO'}; sweep of "
            f"{sweep_scans:,} residents' old-sv codes; statuses lost: {lost}"
        )
        return Outcome(
            tally=self.tally,
            story=self.story,
            channels=self._sum_stats(),
            keys_added=self.keys.added,
            keys_revoked=self.keys.revoked,
            marks=marks,
            lost=lost,
            skipped_ticks=self._skipped,
            seconds=time.monotonic() - self._started,
            residents=len(batch),
            sweep_scans=sweep_scans,
            failures=self._failures,
        )

    def _sum_stats(self) -> ChannelStats:
        total = ChannelStats()
        for channel in self.channels.values():
            for name in ChannelStats.__dataclass_fields__:
                setattr(total, name, getattr(total, name) + getattr(channel.stats, name))
        return total


def _relabel(code: IssuedCode, kind: Kind) -> CodeTruth:
    return dataclasses.replace(code.truth, kind=kind)
