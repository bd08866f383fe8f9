"""One generator process: its own event loop, connections and share of the schedule.

Open loop (wrk2's method): a dispatcher wakes at the intended time of each slot the process
owns and hands it to a free connection; it never waits on responses. When it wakes late it
releases every overdue slot at once, each keeping its own intended time. When every connection
is busy, slots queue in order (``cap_waits``): their latency still runs from the intended time,
so queueing is charged to the server, and their wait shows up as send lateness.
Closed loop: each connection sends its next request as soon as the previous answer is in.

Everything is recorded into per-second interval histograms and counters (by completion time,
HdrHistogram's interval-log pattern), shipped to the coordinator at each second's end. An
answer other than 200 is also counted by its status and SPEC error code (``401
unauthenticated``), read from its body; bytes are counted both ways, head and body.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from load_tests.bodies import RequestBook
from load_tests.connection import Connection, describe, open_connection
from load_tests.histograms import Blob, HistogramSet
from load_tests.schedule import NS, Schedule

HEARTBEAT_S = 0.005


@dataclass(frozen=True, slots=True)
class EngineConfig:
    proc: int
    procs: int
    mode: str  # "open" or "closed"
    connections: int
    warmup_s: int
    duration_s: float  # measured phase
    timeout_s: float = 10.0
    drain_s: float = 10.0
    check_every: int = 0  # compare every n-th answer with the corpus' expectation (0: never)
    generator_stall: tuple[float, float] | None = None  # (ms, every s): self-test knob


@dataclass(slots=True)
class Interval:
    hist: HistogramSet = field(default_factory=HistogramSet)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    status: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    error_codes: collections.Counter[str] = field(default_factory=collections.Counter)


class Shipped(TypedDict):
    """One process's interval as it goes to the coordinator (pickled over its pipe)."""

    second: int
    hist: dict[str, Blob]
    counts: dict[str, int]
    status: dict[str, int]  # "200"
    errors: dict[str, int]
    error_codes: dict[str, int]


class Result(TypedDict, total=False):
    """What a process sends when it is done; a count it never took is absent."""

    sent_by_phase: dict[str, int]  # warmup, measured
    cpu_measured_us: int
    measured_intervals: int
    unfinished: int
    unsent: int


@dataclass(slots=True)
class Second:
    """One second of the run: every process's interval for it, merged by the coordinator."""

    procs: int = 0  # how many processes' intervals are in
    hist: HistogramSet = field(default_factory=HistogramSet)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    status: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    error_codes: collections.Counter[str] = field(default_factory=collections.Counter)

    def add(self, shipped: Shipped) -> None:
        self.procs += 1
        self.hist.add(HistogramSet.decode(shipped["hist"]))
        self.counts.update(shipped["counts"])
        self.status.update(shipped["status"])
        self.errors.update(shipped["errors"])
        self.error_codes.update(shipped["error_codes"])


class Engine:
    def __init__(
        self,
        cfg: EngineConfig,
        book: RequestBook,
        schedule: Schedule | None,
        ship: Callable[[Shipped], None],
    ) -> None:
        self.cfg, self.book, self.schedule, self._ship = cfg, book, schedule, ship
        self.loop = asyncio.get_running_loop()
        self.host, self.port = book.target.host_port
        self.conns: set[Connection] = set()
        self.idle: list[Connection] = []
        self.pending: collections.deque[tuple[int, int]] = collections.deque()
        self.now = Interval()
        self.second = 0
        self.t0 = 0
        self.stop_ns = 0
        self.stopping = False
        self.sent_by_phase: collections.Counter[str] = collections.Counter()
        self.result: collections.Counter[str] = collections.Counter()
        self._slots: Iterator[tuple[int, int]] = iter(())
        self._next: tuple[int, int] | None = None
        self._closed_next = cfg.proc
        self._answers = 0
        self._finished = asyncio.Event()
        self._cpu = _cpu_seconds()
        self._reconnecting = 0
        self.failure: str | None = None
        self.loop.set_exception_handler(self._on_error)

    # --- set-up --------------------------------------------------------------------------

    async def connect(self) -> None:
        for _ in range(self.cfg.connections):
            conn = await open_connection(self.host, self.port, self._on_response, self._on_lost)
            self.conns.add(conn)
            self.idle.append(conn)

    async def run(self, t0: int) -> Result:
        self.t0 = t0
        self.stop_ns = t0 + round((self.cfg.warmup_s + self.cfg.duration_s) * NS)
        self._at(t0 + NS, self._tick)
        self._at(t0, self._heartbeat, t0)
        if self.cfg.generator_stall:
            self._at(t0 + round(self.cfg.generator_stall[1] * NS), self._stall)
        if self.cfg.mode == "open":
            assert self.schedule is not None
            self._slots = self.schedule.slots(self.cfg.proc, self.cfg.procs)
            self._next = next(self._slots, None)
            self._at(t0, self._dispatch)
        else:
            self._at(t0, self._start_closed)
        self._at(self.stop_ns, self._stop)
        await self._finished.wait()
        if self.failure is not None:
            raise RuntimeError(self.failure)
        for conn in list(self.conns):
            if conn.transport is not None:
                conn.transport.close()
        # ``result`` holds only the counts of Result: those this process took.
        return cast(Result, {"sent_by_phase": dict(self.sent_by_phase), **self.result})

    def _on_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # A bug in a callback must end the run loudly, not leave it waiting for answers.
        exc = context.get("exception")
        self.failure = f"{context.get('message')}: {exc!r}"
        self._finished.set()

    def _at(self, t_ns: int, fn: Callable[..., None], *args: Any) -> None:
        self.loop.call_at(t_ns / NS, fn, *args)

    # --- sending -------------------------------------------------------------------------

    def _phase(self, t_ns: int) -> str:
        return "warmup" if t_ns < self.t0 + self.cfg.warmup_s * NS else "measured"

    def _send(self, conn: Connection, slot: int, intended: int, capped: bool) -> None:
        request = self.book.request(slot)
        sent = conn.send(request, slot, intended)
        iv = self.now
        iv.counts["bytes_sent"] += len(request)
        if self.cfg.mode == "open":  # a closed loop has no plan to be late for
            lateness = sent - intended
            iv.hist["lateness"].record_ns(lateness)
            if capped:
                iv.counts["sent_capped"] += 1
            else:
                iv.hist["gen_lag"].record_ns(lateness)
        iv.counts["sent"] += 1
        iv.counts["codes_sent"] += self.book.target.codes_per_request
        self.sent_by_phase[self._phase(intended)] += 1

    def _dispatch(self) -> None:
        now = time.monotonic_ns()
        while self._next is not None and not self.stopping:
            slot, offset = self._next
            intended = self.t0 + offset
            if intended > now:
                self._at(intended, self._dispatch)
                return
            if self.idle and not self.pending:
                self._send(self.idle.pop(), slot, intended, capped=False)
            else:
                self.pending.append((slot, intended))
                self.now.counts["cap_waits"] += 1
            self._next = next(self._slots, None)

    def _start_closed(self) -> None:
        while self.idle:
            self._send_closed(self.idle.pop())

    def _send_closed(self, conn: Connection) -> None:
        slot, self._closed_next = self._closed_next, self._closed_next + self.cfg.procs
        self._send(conn, slot, time.monotonic_ns(), capped=False)

    # --- answers -------------------------------------------------------------------------

    def _on_response(self, conn: Connection, status: int, body: bytes, done: int) -> None:
        iv = self.now
        iv.hist["latency"].record_ns(done - conn.intended_ns)
        iv.hist["service"].record_ns(done - conn.sent_ns)
        iv.counts["completed"] += 1
        iv.counts["bytes_received"] += conn.answer_bytes
        iv.status[status] += 1
        if status != 200:
            iv.error_codes[f"{status} {error_code(body)}"] += 1
        self._answers += 1
        if self.cfg.check_every and self._answers % self.cfg.check_every == 0 and status == 200:
            self._check(conn.slot, body)
        self._next_for(conn)

    def _next_for(self, conn: Connection) -> None:
        if self.cfg.mode == "open":
            if self.pending:
                slot, intended = self.pending.popleft()
                self._send(conn, slot, intended, capped=True)
                return
        elif time.monotonic_ns() < self.stop_ns:
            self._send_closed(conn)
            return
        self.idle.append(conn)
        self._maybe_finish()

    def _check(self, slot: int, body: bytes) -> None:
        expected = [self.book.codes[d].expect for d in self.book.draws_of(slot)]
        try:
            doc = json.loads(body)
        except ValueError:
            self.now.counts["wrong_verdicts"] += len(expected)
            return
        answers = doc if isinstance(doc, list) else [doc]
        self.now.counts["checked"] += len(expected)
        if len(answers) != len(expected):
            self.now.counts["wrong_verdicts"] += len(expected)
            return
        for got, want in zip(answers, expected, strict=True):
            if (got.get("valid"), got.get("reason"), got.get("colour")) != (
                want.valid,
                want.reason,
                want.colour,
            ):
                self.now.counts["wrong_verdicts"] += 1

    def _on_lost(self, conn: Connection, kind: str) -> None:
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.busy:
            conn.busy = False
            self.now.errors[kind] += 1
        if self.stopping:
            self._maybe_finish()
        else:
            self._reconnecting += 1
            self.loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        while not self.stopping:
            try:
                conn = await open_connection(self.host, self.port, self._on_response, self._on_lost)
            except OSError as exc:
                self.now.counts["connect_errors"] += 1
                self.now.counts[describe(exc)] += 1
                await asyncio.sleep(0.1)
                continue
            self.conns.add(conn)
            self._reconnecting -= 1
            self._next_for(conn)
            return
        self._reconnecting -= 1
        self._maybe_finish()

    # --- time ----------------------------------------------------------------------------

    def _heartbeat(self, expected: int) -> None:
        now = time.monotonic_ns()
        self.now.hist["loop_lag"].record_ns(max(0, now - expected))
        if not self._finished.is_set():
            nxt = now + round(HEARTBEAT_S * NS)
            self._at(nxt, self._heartbeat, nxt)

    def _stall(self) -> None:
        assert self.cfg.generator_stall is not None
        ms, every = self.cfg.generator_stall
        time.sleep(ms / 1000)  # blocks this generator's loop on purpose: the self-test
        if not self.stopping:
            self._at(time.monotonic_ns() + round(every * NS), self._stall)

    def _tick(self) -> None:
        if self._finished.is_set():
            return
        now = time.monotonic_ns()
        for conn in self.conns:  # per-request timeout: drop the connection, count it
            if conn.busy and now - conn.sent_ns > self.cfg.timeout_s * NS and not conn.timed_out:
                conn.timed_out = True
                if conn.transport is not None:
                    conn.transport.abort()
        self._flush()
        if not self._finished.is_set():
            self._at(self.t0 + (self.second + 1) * NS, self._tick)

    def _flush(self) -> None:
        iv, self.now = self.now, Interval()
        cpu = _cpu_seconds()
        iv.counts["cpu_us"] += round((cpu - self._cpu) * 1e6)
        if (
            self.second >= self.cfg.warmup_s
            and self.second < self.cfg.warmup_s + self.cfg.duration_s
        ):
            self.result["cpu_measured_us"] += iv.counts["cpu_us"]
            self.result["measured_intervals"] += 1
        self._cpu = cpu
        iv.counts["inflight"] = sum(1 for c in self.conns if c.busy)
        iv.counts["queued"] = len(self.pending)
        self._ship(
            {
                "second": self.second,
                "hist": iv.hist.encode(),
                "counts": dict(iv.counts),
                "status": {str(k): v for k, v in iv.status.items()},
                "errors": dict(iv.errors),
                "error_codes": dict(iv.error_codes),
            }
        )
        self.second += 1

    def _stop(self) -> None:
        if self.cfg.mode == "open":
            self._dispatch()  # every slot of the plan is due now: release the last ones
        self.stopping = True
        self._at(self.stop_ns + round(self.cfg.drain_s * NS), self._give_up)
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if not self.stopping or self._finished.is_set():
            return
        if self.pending or any(c.busy for c in self.conns):
            return
        self._finish()

    def _give_up(self) -> None:
        if not self._finished.is_set():
            self.result["unfinished"] = sum(1 for c in self.conns if c.busy)
            self._finish()

    def _finish(self) -> None:
        self.result["unsent"] = len(self.pending)
        if self._next is not None:  # stop came before the plan ended (it should not)
            self.result["unsent"] += 1 + sum(1 for _ in self._slots)
        self.pending.clear()
        self._flush()
        self._finished.set()


def error_code(body: bytes) -> str:
    """The SPEC §7 ``error`` of an error answer's JSON body, or ``-`` when it has none."""
    try:
        doc = json.loads(body)
    except ValueError:
        return "-"
    error = doc.get("error") if isinstance(doc, dict) else None
    return error if isinstance(error, str) and error.isidentifier() else "-"


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system
