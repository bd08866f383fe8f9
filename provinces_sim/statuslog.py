"""One issuer's status channel (SPEC §4 ``status``): consecutive seq, the mark, and resending.

Status changes wait in ``pending`` until the issuer seals them into a message with the next
seq (at most 10,000 events each). Every sealed message stays in the log for the whole run:
an acknowledged message is durable only as long as the hub's Redis is, and SPEC §4 lets the
mark fall back with the events it covered, so the log is what makes "nothing is lost end to
end" true. Sending always starts at ``mark + 1``:

- before sending, the channel reads ``GET /v1/issuers/{iss}/status/mark`` when the last call
  failed in any way, and at least every 60 s;
- a 409 ``stale_seq`` or ``seq_gap`` reads the mark again and continues from it;
- every (re)send is signed afresh: a new ``iat`` and nonce, the same seq and events.

The channel also keeps ``held``: what the hub holds for each subject, by the rule the hub
applies (an event applies only when its ``sv`` is greater), recomputed whenever the mark moves.
The oracle reads it. It is exact whenever ``settled`` is true: no call is in doubt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from provinces_sim.errors import HubRefused, HubUnreachable, SimError
from provinces_sim.hub import HubApi
from provinces_sim.issuer import Issuer
from provinces_sim.keystore import Event
from provinces_sim.wire import MAX_EVENTS

RESYNC_EVERY = 60.0
_CONFLICTS_PER_FLUSH = 3


@dataclass(frozen=True, slots=True)
class Sealed:
    seq: int
    events: tuple[Event, ...]


@dataclass(slots=True)
class ChannelStats:
    messages: int = 0  # sealed
    events: int = 0  # sealed
    sends: int = 0  # POSTs, resends included
    resends: int = 0  # POSTs of a seq that had been sent before
    mark_reads: int = 0
    fallbacks: int = 0  # times the mark was found below what the hub had acknowledged
    conflicts: int = 0  # 409 stale_seq / seq_gap
    errors: int = 0


class StatusChannel:
    def __init__(
        self,
        issuer: Issuer,
        hub: HubApi,
        clock: Callable[[], float],
        *,
        max_events: int = MAX_EVENTS,
    ) -> None:
        self.issuer = issuer
        self.hub = hub
        self._clock = clock
        self._max_events = max_events
        self.base = 0  # the hub's mark when this run began: seqs up to it are not ours
        self.pending: list[Event] = []
        self.log: list[Sealed] = []
        self.acked = 0  # the hub holds every message up to this seq
        self.needs_sync = True
        self.held: dict[bytes, tuple[int, int]] = {}  # sub → (colour, sv) at the hub
        self.stats = ChannelStats()
        self._synced_at = float("-inf")
        self._highest_sent = 0

    @property
    def iss(self) -> str:
        return self.issuer.iss

    @property
    def last_seq(self) -> int:
        return self.base + len(self.log)

    @property
    def settled(self) -> bool:
        """No call is in doubt, so ``held`` is exactly what the hub holds."""
        return not self.needs_sync

    @property
    def delivered(self) -> bool:
        return self.settled and not self.pending and self.acked == self.last_seq

    async def start(self) -> int:
        """Read the mark and continue after it; → the mark."""
        mark = await self.hub.mark(self.iss)
        self.stats.mark_reads += 1
        self.base = self.acked = self._highest_sent = mark
        self.needs_sync, self._synced_at = False, self._clock()
        return mark

    def doubt(self) -> None:
        """Something may have happened to the hub (it restarted): read the mark before
        anything else, and until then do not claim to know what it holds."""
        self.needs_sync = True

    def add(self, events: Iterable[Event]) -> None:
        self.pending.extend(events)

    def seal(self) -> None:
        """Pending events become messages with the next seqs (none when nothing is pending)."""
        for start in range(0, len(self.pending), self._max_events):
            chunk = tuple(self.pending[start : start + self._max_events])
            self.log.append(Sealed(self.last_seq + 1, chunk))
            self.stats.messages += 1
            self.stats.events += len(chunk)
        self.pending.clear()

    def status_of(self, sub: bytes) -> tuple[int, int] | None:
        """(colour, sv) the hub holds for ``sub``, as far as this run's messages decide it."""
        return self.held.get(sub)

    async def resync(self) -> int:
        """Read the mark and line the log up with it; → the mark."""
        try:
            mark = await self.hub.mark(self.iss)
        except (HubUnreachable, HubRefused):
            self.needs_sync = True
            self.stats.errors += 1
            raise
        self.stats.mark_reads += 1
        self._reconcile(mark)
        self.needs_sync, self._synced_at = False, self._clock()
        return mark

    async def flush(self) -> None:
        """Send every sealed message the hub does not hold, in seq order."""
        if self.needs_sync or self._clock() - self._synced_at >= RESYNC_EVERY:
            await self.resync()
        conflicts = 0
        while self.acked < self.last_seq:
            seq = self.acked + 1
            events = [] if seq <= self.base else list(self.log[seq - self.base - 1].events)
            message = self.issuer.message("status", int(self._clock()), seq=seq, events=events)
            self.stats.sends += 1
            if seq <= self._highest_sent:
                self.stats.resends += 1
            self._highest_sent = max(self._highest_sent, seq)
            try:
                await self.hub.manage(self.iss, "status", message)
            except HubRefused as exc:
                self.stats.errors += 1
                if exc.error in ("stale_seq", "seq_gap") and conflicts < _CONFLICTS_PER_FLUSH:
                    conflicts += 1
                    self.stats.conflicts += 1
                    await self.resync()
                    continue
                self.needs_sync = True
                raise
            except HubUnreachable:
                self.stats.errors += 1
                self.needs_sync = True
                raise
            self._move_to(seq)

    def _reconcile(self, mark: int) -> None:
        if mark > self.last_seq:
            raise SimError(
                f"the hub's mark for {self.iss} is {mark}, past the {self.last_seq} messages "
                "this issuer has sealed: is another process sending status for it?"
            )
        if mark < self.acked:
            self.stats.fallbacks += 1
        self._move_to(mark)

    def _move_to(self, mark: int) -> None:
        if mark < self.acked:  # the hub lost messages: recompute what it still holds
            self.held.clear()
            self._apply(self.base + 1, mark)
        else:
            self._apply(self.acked + 1, mark)
        self.acked = mark

    def _apply(self, first: int, last: int) -> None:
        for sealed in self.log[max(0, first - self.base - 1) : max(0, last - self.base)]:
            for sub, colour, sv, _at in sealed.events:
                held = self.held.get(sub)
                if held is None or sv > held[1]:
                    self.held[sub] = (colour, sv)
