"""What a bench run measured, round by round, and its JSON (``schema: "hcgw-bench"``, version 7).

Every figure of BENCHMARKS.md is computed from these records (``ratios``, ``figures``), at the
end of a run and again by ``--from-json``: the JSON keeps every round's raw measurement, so a
page written again from it is the page the run wrote. Times are seconds on CLOCK_MONOTONIC
from the start of the run; a measurement's time is the middle of its wrk run.

Version 3 (issue 16) replaced the single-shot figures of version 2 (one wrk run per figure, the
empty handler at the start and at the end) with rounds: ``rounds`` holds the limit slots and
the gateway's measurements, and every ratio is the median of per-round ratios. Version 4 moved
the open-loop latency points into the rounds (``rounds.open_loop``: every point once a round,
``OpenLoopSample``) from one run each after them (``gateway[key].open_loop``); a document of
version 3 is still read, each of its points as a point of one round (``legacy_open_loop``).
Version 5 added issue 11's latency measurements to the rounds' last block: ``rounds.stall``
(``StallSample``: a cached single code beside batches of new codes) and ``rounds.acks``
(``AckSample``: a ``status`` message's time to its 2xx on busy workers); a document of version
3 or 4 has neither, and the page says they were not measured.

Version 6 has the same records; only what the deployments ran changed: ``lease_invalidation``
became the hub's default, so the rounds' deployments have it on and the acknowledgement slots
compare them with ``-noleases`` ones (version 5: off in the rounds, on in ``-leases``; each
gateway entry now says ``lease_invalidation`` either way).

Version 7 keeps every latency a latency measurement timed (``OpenLoopSample``, ``StallSample``,
``AckSample``): ``latency_hist``, the round's HdrHistogram (load_tests.histograms' histoblob,
µs), so a percentile is read from all the rounds' latencies together (``latency.pooled``). A
document before it has none, and its percentiles are the medians of the rounds' as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from load_tests.bench.document import (
    Deployment,
    LimitSampleRecord,
    OpenLoopPoint,
    OpenLoopSampleRecord,
    RoundsRecord,
)

SCHEMA = "hcgw-bench"
SCHEMA_VERSION = 7
READABLE = (3, 4, 5, 6, 7)  # versions --from-json and --agree read (3: open-loop points after the
# rounds; 3 and 4: no stall or acknowledgement measurements)


class SchemaError(ValueError):
    """A JSON document this bench cannot read (another schema, or another version of it)."""


@dataclass(frozen=True, slots=True)
class LimitSample:
    """One limit slot: the empty aiohttp handler under wrk, then the raw signature calls."""

    round: int
    block: int
    start: float
    end: float
    empty: float  # successful requests/s of the empty handler (the better run)
    raw: Mapping[str, float] = field(default_factory=dict)  # call → verifications/s, one core
    empty_runs: tuple[float, ...] = ()  # every wrk run of the slot
    busy_before: float = 0.0  # the machine's CPU use in the second before (others' work)
    busy_during: float = 0.0  # the machine's, ours and others'
    others_during: float = 0.0  # others' alone (``neighbours``)
    waited_s: float = 0.0
    retries: int = 0  # measured again this many times: others came in during it

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True, slots=True)
class Sample:
    """One scenario on one subject in one round: wrk's summary."""

    round: int
    block: int
    subject: str
    scenario: str
    start: float
    end: float
    ok_rate: float  # successful requests/s
    codes_rate: float  # codes/s (a batch carries many)
    p50_us: float
    p99_us: float
    errors: int = 0
    wrapped: bool = False  # a miss run that ran out of new codes and sent repeats
    busy_before: float = 0.0
    busy_during: float = 0.0
    others_during: float = 0.0
    waited_s: float = 0.0
    retries: int = 0

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True, slots=True)
class OpenLoopSample:
    """One open-loop point in one round: the harness at ``fraction`` of the maximum the same
    round measured for that scenario on that subject (``hub.open_loop``'s headline figures).
    ``block`` -1: a point of a version-3 document, one run after the rounds."""

    round: int
    block: int
    subject: str
    scenario: str  # single code, cache hit | miss
    fraction: float
    start: float
    end: float
    target_rate: float
    achieved: float  # ok answers/s
    latency_us: Mapping[str, int | None]  # from the intended send: p50, p90, p99, p99_9, max
    service_us: Mapping[str, int | None]  # from the actual send: p50, p99, max
    verdict: str  # the harness' (load_tests.verdict): VALID … SUT_SATURATED, INVALID
    failed_checks: tuple[str, ...] = ()
    errors: float = 0.0  # the error rate
    lateness_p99_us: int | None = None
    busy_before: float = 0.0
    busy_during: float = 0.0
    others_during: float = 0.0
    waited_s: float = 0.0
    retries: int = 0
    latency_hist: str = ""  # every latency, a histoblob (version 7; "": none kept)

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True, slots=True)
class StallSample:
    """One stall measurement in one round (``stall``): batches of ``batch`` new codes on
    ``connections`` connections under wrk, and beside them one connection sending a cached
    single code at ``probe_rate`` a second; the single codes' latency from their intended
    send time, and their service time from the actual send."""

    round: int
    block: int
    subject: str
    start: float
    end: float
    batch: int  # codes per batch
    connections: int  # wrk's, sending the batches
    codes_rate: float  # the batches' codes/s, answered 200
    probe_rate: float  # cached single codes a second, on one connection
    probes: int  # single codes answered in the measured time
    latency_us: Mapping[str, int | None]  # p50, p90, p99, p99_9, max
    service_us: Mapping[str, int | None]  # p50, p99, max
    probe_errors: int = 0  # single codes not answered 200 "valid"
    errors: int = 0  # the batches' failed requests
    wrapped: bool = False  # the batches ran out of new codes and sent repeats
    busy_before: float = 0.0
    busy_during: float = 0.0
    others_during: float = 0.0
    waited_s: float = 0.0
    retries: int = 0
    latency_hist: str = ""  # every single code's latency, a histoblob (version 7)

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True, slots=True)
class AckSample:
    """One acknowledgement measurement in one round (``acks``): ``status`` messages sent one
    after another on one connection while wrk keeps the subject's workers busy with cached
    single codes on ``connections`` connections; each message's time to its 2xx."""

    round: int
    block: int
    subject: str
    workers: int
    leases: bool  # lease_invalidation
    start: float
    end: float
    connections: int  # wrk's, verifying cached codes meanwhile
    messages: int  # acknowledged (2xx) in the measured time
    latency_us: Mapping[str, int | None]  # p50, p90, p99, max
    verify_rate: float  # the verifications' ok answers/s meanwhile
    refused: int = 0  # messages not answered 2xx
    errors: int = 0  # wrk's failed requests
    busy_before: float = 0.0
    busy_during: float = 0.0
    others_during: float = 0.0
    waited_s: float = 0.0
    retries: int = 0
    latency_hist: str = ""  # every message's time to its 2xx, a histoblob (version 7)

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True, slots=True)
class Rounds:
    """A run's rounds: how many, how long each measurement, and everything they measured."""

    rounds: int
    seconds: float
    limits: tuple[LimitSample, ...] = ()
    samples: tuple[Sample, ...] = ()
    open_loop: tuple[OpenLoopSample, ...] = ()
    stall: tuple[StallSample, ...] = ()
    acks: tuple[AckSample, ...] = ()

    def of(self, subject: str, scenario: str) -> tuple[Sample, ...]:
        """One figure's samples, in round order."""
        chosen = (s for s in self.samples if s.subject == subject and s.scenario == scenario)
        return tuple(sorted(chosen, key=lambda s: s.round))

    def subjects(self) -> list[str]:
        return list(dict.fromkeys(s.subject for s in self.samples))


def rounds_to_json(rounds: Rounds) -> RoundsRecord:
    # The same keys (tests/test_bench_rounds.py holds the records to the dataclasses); the
    # tuples become JSON's lists when written.
    return cast(RoundsRecord, asdict(rounds))


def rounds_from_json(doc: RoundsRecord) -> Rounds:
    return Rounds(
        rounds=int(doc["rounds"]),
        seconds=float(doc["seconds"]),
        limits=tuple(_limit(x) for x in doc["limits"]),
        samples=tuple(Sample(**x) for x in doc["samples"]),
        open_loop=tuple(_open_loop(x) for x in doc.get("open_loop", ())),
        stall=tuple(StallSample(**x) for x in doc.get("stall", ())),
        acks=tuple(AckSample(**x) for x in doc.get("acks", ())),
    )


def _limit(x: LimitSampleRecord) -> LimitSample:
    raw = {k: float(v) for k, v in x["raw"].items()}
    # The JSON's lists and numbers as the dataclass holds them; the rest as they are.
    fields: dict[str, Any] = {**x, "raw": raw, "empty_runs": tuple(x.get("empty_runs", ()))}
    return LimitSample(**fields)


def _open_loop(x: OpenLoopSampleRecord) -> OpenLoopSample:
    fields: dict[str, Any] = {**x, "failed_checks": tuple(x.get("failed_checks", ()))}
    return OpenLoopSample(**fields)


def legacy_open_loop(gateway: Mapping[str, Deployment]) -> tuple[OpenLoopSample, ...]:
    """A version-3 document's open-loop points (one run each, after the rounds) as samples of
    one round, ``block`` -1 (between no limit slots)."""
    return tuple(_legacy(key, p) for key, g in gateway.items() for p in g.get("open_loop", []))


def _legacy(subject: str, p: OpenLoopPoint) -> OpenLoopSample:
    return OpenLoopSample(
        round=0, block=-1, subject=subject, scenario=p["traffic"], fraction=float(p["fraction"]),
        start=0.0, end=0.0, target_rate=float(p["target_rate"]), achieved=float(p["achieved"]),
        latency_us=p["latency_us"], service_us=p["service_us"], verdict=p["verdict"],
        failed_checks=tuple(p.get("failed_checks", ())), errors=float(p.get("errors", 0.0)),
        lateness_p99_us=p.get("lateness_p99_us"), busy_before=float(p.get("busy_before", 0)),
        busy_during=float(p.get("system_busy", 0)), waited_s=float(p.get("waited_s", 0)),
    )  # fmt: skip


def check_schema(doc: Mapping[str, object]) -> None:
    """Raise ``SchemaError`` unless ``doc`` is a bench document of a version this bench reads."""
    if doc.get("schema") != SCHEMA or doc.get("schema_version") not in READABLE:
        raise SchemaError(
            f"not a {SCHEMA} document of version {' or '.join(map(str, READABLE))} (found "
            f"{doc.get('schema')!r}, version {doc.get('schema_version')!r}): rerun the bench"
        )
