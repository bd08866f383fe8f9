"""The bench document's records (``schema: "hcgw-bench"``, version 7): one ``TypedDict`` a section.

The document is JSON from end to end: ``run.bench`` fills it section by section while the run
goes, ``--json`` writes it, ``--from-json`` reads it back and ``markdown.render`` writes the
page from it, so a page written again from a file is the page the run wrote. Its records are
therefore the JSON itself with typed keys, not classes converted to and from it: nothing can
be lost or reordered on the way (load_tests/bench/latest.json is read as it is). What the
page is computed from is typed further when it is read (``samples.rounds_from_json``: the
rounds as ``Sample`` and ``LimitSample``; ``figures.view``). Sections a run may skip
(``--no-peers``, ``--no-crosscheck``, ``--compare``) are ``NotRequired``, and so are those a
document of version 3 or 4 lacks or has in their place (``samples.READABLE``: --from-json reads
them).

No ``from __future__ import annotations`` here: Python 3.11 reads ``NotRequired`` only from
annotations it evaluates, and the tests hold documents to these records at run time.
"""

from collections.abc import Sequence
from typing import NotRequired, TypedDict

from load_tests.machine import Quiet
from load_tests.records import Machine


class Settings(TypedDict):
    seconds: float
    rounds: int
    connections: int
    codes: int
    workers: list[int]
    scenarios: list[str]
    gunicorn: bool
    cluster: bool
    wrk_threads: int
    profile: bool
    max_wait_s: float
    max_spread: float
    max_drift: float
    retries: int
    open_loop_seconds: NotRequired[float]  # per open-loop point and round (version 4)
    stall_seconds: NotRequired[float]  # per stall measurement and round (version 5; 0: none)
    ack_seconds: NotRequired[float]  # per acknowledgement measurement and round (5; 0: none)


class BuildRecord(TypedDict):
    name: str  # head | base
    label: str
    commit: str | None


class Rates(TypedDict):
    """``micro.measure``: one candidate's verifications/s over interleaved rounds."""

    best: float
    median: float
    rounds: int
    per_round: list[float]


class Micro(TypedDict):
    raw: dict[str, Rates]  # call → rates
    peers: dict[str, dict[str, Rates]]  # algorithm → implementation → rates


class CorpusRecord(TypedDict):
    path: str
    codes: int
    valid_algs: dict[str, float]  # algorithm → share of the valid codes
    codes_used: int


class CrosscheckRecord(TypedDict):
    agreement: float
    verdict: str
    wrk_rate: float
    harness_rate: float


class MemoryMiss(TypedDict):
    cached_outcomes: int
    bytes_per_cached_outcome: float | None


class Profile(TypedDict):
    samples: int
    self: list[tuple[str, float]]  # (frame, share of the samples), the top ones
    inclusive: list[tuple[str, float]]


class ScenarioExtras(TypedDict, total=False):
    """What a deployment's scenario got besides its rounds: memory (round 0), a profile."""

    memory: MemoryMiss
    profile: Profile | None


class MemoryStatus(TypedDict):
    statuses: int
    bytes_per_status: float | None
    memory_usage_sample: float | None


class HitRatio(TypedDict):
    expected: float | None
    observed: float | None


class OpenLoopRun(TypedDict):
    """``hub.open_loop``: one open-loop run of the harness, its report's headline figures."""

    target_rate: float
    achieved: float
    latency_us: dict[str, int | None]  # p50, p90, p99, p99_9, max
    latency_hist: NotRequired[str]  # every latency, the report's histoblob (version 7)
    service_us: dict[str, int | None]  # p50, p99, max
    lateness_p99_us: int | None
    verdict: str
    failed_checks: list[str]
    hit_ratio: HitRatio
    errors: float  # the error rate
    others_during: NotRequired[float]  # others' share of the machine (version 4)
    system_busy: float
    loadavg_before: float
    busy_before: float
    waited_s: float


class OpenLoopPoint(OpenLoopRun):
    """Version 3: a point of the open-loop table, one run at a fraction of the rounds' maximum
    after the rounds (version 4: ``OpenLoopSampleRecord``, one a round)."""

    traffic: str  # the scenario
    fraction: float


class Deployment(TypedDict):
    """``gateway[key]``: one deployment of one build (``run.Deployment``, ``compare``)."""

    label: str
    workers: int
    server: str  # hcgw | gunicorn
    store: str  # redis | cluster
    build: str  # head | base
    scenarios: dict[str, ScenarioExtras]
    prime: NotRequired[str]  # provinces_sim prime's output
    memory_status: NotRequired[MemoryStatus]  # the first deployment only
    memory_cached_sample: NotRequired[float | None]
    open_loop: NotRequired[list[OpenLoopPoint]]  # version 3 only (4: rounds.open_loop)
    lease_invalidation: NotRequired[bool]  # 5: true in -leases only; 6: every deployment


class LimitSampleRecord(TypedDict):
    """``samples.LimitSample`` as JSON; a field with a default there may be absent (read as
    the default: a document written before the field was)."""

    round: int
    block: int
    start: float
    end: float
    empty: float
    raw: dict[str, float]  # call → verifications/s
    empty_runs: NotRequired[Sequence[float]]
    busy_before: NotRequired[float]
    busy_during: NotRequired[float]
    others_during: NotRequired[float]
    waited_s: NotRequired[float]
    retries: NotRequired[int]


class SampleRecord(TypedDict):
    """``samples.Sample`` as JSON; as ``LimitSampleRecord``, a defaulted field may be absent."""

    round: int
    block: int
    subject: str
    scenario: str
    start: float
    end: float
    ok_rate: float
    codes_rate: float
    p50_us: float
    p99_us: float
    errors: NotRequired[int]
    wrapped: NotRequired[bool]
    busy_before: NotRequired[float]
    busy_during: NotRequired[float]
    others_during: NotRequired[float]
    waited_s: NotRequired[float]
    retries: NotRequired[int]


class OpenLoopSampleRecord(TypedDict):
    """``samples.OpenLoopSample`` as JSON; as ``LimitSampleRecord``, a defaulted field may be
    absent."""

    round: int
    block: int
    subject: str
    scenario: str
    fraction: float
    start: float
    end: float
    target_rate: float
    achieved: float
    latency_us: dict[str, int | None]
    service_us: dict[str, int | None]
    verdict: str
    failed_checks: NotRequired[Sequence[str]]
    errors: NotRequired[float]
    lateness_p99_us: NotRequired[int | None]
    busy_before: NotRequired[float]
    busy_during: NotRequired[float]
    others_during: NotRequired[float]
    waited_s: NotRequired[float]
    retries: NotRequired[int]
    latency_hist: NotRequired[str]  # version 7


class StallSampleRecord(TypedDict):
    """``samples.StallSample`` as JSON; as ``LimitSampleRecord``, a defaulted field may be
    absent."""

    round: int
    block: int
    subject: str
    start: float
    end: float
    batch: int
    connections: int
    codes_rate: float
    probe_rate: float
    probes: int
    latency_us: dict[str, int | None]  # p50, p90, p99, p99_9, max
    service_us: dict[str, int | None]  # p50, p99, max
    probe_errors: NotRequired[int]
    errors: NotRequired[int]
    wrapped: NotRequired[bool]
    busy_before: NotRequired[float]
    busy_during: NotRequired[float]
    others_during: NotRequired[float]
    waited_s: NotRequired[float]
    retries: NotRequired[int]
    latency_hist: NotRequired[str]  # version 7


class AckSampleRecord(TypedDict):
    """``samples.AckSample`` as JSON; as ``LimitSampleRecord``, a defaulted field may be
    absent."""

    round: int
    block: int
    subject: str
    workers: int
    leases: bool
    start: float
    end: float
    connections: int
    messages: int
    latency_us: dict[str, int | None]  # p50, p90, p99, max
    verify_rate: float
    refused: NotRequired[int]
    errors: NotRequired[int]
    busy_before: NotRequired[float]
    busy_during: NotRequired[float]
    others_during: NotRequired[float]
    waited_s: NotRequired[float]
    retries: NotRequired[int]
    latency_hist: NotRequired[str]  # version 7


class RoundsRecord(TypedDict):
    rounds: int
    seconds: float
    limits: list[LimitSampleRecord]
    samples: list[SampleRecord]
    open_loop: NotRequired[list[OpenLoopSampleRecord]]  # version 4 (3: after the rounds)
    stall: NotRequired[list[StallSampleRecord]]  # version 5
    acks: NotRequired[list[AckSampleRecord]]  # version 5


class LimitSummaryRecord(TypedDict):
    median: float
    low: float
    high: float
    slots: int


class RatioRecord(TypedDict):
    median: float
    low: float
    high: float
    spread: float
    drift: float
    per_round: list[float]
    used: list[int]
    drifts: list[float]
    disturbed_rounds: list[bool]
    disturbed: bool
    marks: list[str]
    pooled: NotRequired[int]  # a latency percentile of the rounds' latencies together: how many


class FigureRecord(TypedDict):
    """``figures.Figure`` as JSON, its ratios with their medians, ranges and marks."""

    subject: str
    scenario: str
    rounds: int
    ok_rate: float
    codes_rate: float
    p50_us: float
    p99_us: float
    errors: int
    wrapped: bool
    busy_before: float
    busy_during: float
    others_during: float
    retries: int
    per_empty: RatioRecord
    per_raw: RatioRecord


class OpenLoopFigureRecord(TypedDict):
    """``openloop.Point`` as JSON: one open-loop point over its rounds, latencies in µs."""

    subject: str
    scenario: str
    fraction: float
    rounds: int
    target_rate: float
    achieved: float
    p50: RatioRecord  # the per-round latencies (not ratios): median, range, spread, marks
    p99: RatioRecord
    p99_9: RatioRecord
    max_us: float | None
    service_p99_us: float | None
    verdicts: list[str]  # every round's, in round order
    marks: list[str]
    disturbed: bool
    busy_before: float
    others_during: float


class StallFigureRecord(TypedDict):
    """``stall.StallFigure`` as JSON: the stall measurement of one subject over its rounds,
    the single codes' latencies in µs (medians, ranges, marks as ``RatioRecord``)."""

    subject: str
    rounds: int
    batch: int
    connections: int
    probe_rate: float
    probes: int  # over every round
    codes_rate: float  # the batches' codes/s, median
    p50: RatioRecord
    p99: RatioRecord
    p99_9: RatioRecord
    max_us: float | None
    service_p99_us: float | None
    probe_errors: int
    errors: int
    wrapped: bool
    marks: list[str]
    disturbed: bool
    busy_before: float
    others_during: float


class AckFigureRecord(TypedDict):
    """``acks.AckFigure`` as JSON: one deployment's acknowledgement latency over its rounds,
    in µs."""

    subject: str
    workers: int
    leases: bool
    rounds: int
    connections: int
    messages: int  # over every round
    verify_rate: float  # median
    p50: RatioRecord
    p99: RatioRecord
    max_us: float | None
    refused: int
    errors: int
    marks: list[str]
    disturbed: bool
    busy_before: float
    others_during: float


class TargetRecord(TypedDict):
    target: str
    limit: str
    value: float | None
    limit_value: float | None
    goal: float
    ratio: float | None
    low: float | None
    high: float | None
    per_round: list[float] | None
    drift: float | None
    met: bool | None
    marks: list[str]
    margin: float | None
    disturbed: bool


class CompareRowRecord(TypedDict):
    deployment: str
    scenario: str
    base_codes_rate: float
    head_codes_rate: float
    ratio: float
    low: float
    high: float
    per_round: list[float]
    drift: float


class CompareRecord(TypedDict):
    base: str
    head: str
    rows: list[CompareRowRecord]


class BenchDoc(TypedDict):
    """The whole document, in the order its sections are written. ``run.bench`` fills it in
    while the run goes, so the sections after ``builds`` are all ``NotRequired`` here; a
    finished one lacks only those its comment says a run may skip."""

    schema: str
    schema_version: int
    mode: str  # record | compare
    started_at: str
    machine: Machine
    settings: Settings
    builds: list[BuildRecord]
    micro_quiet: NotRequired[Quiet]  # --no-peers: none
    micro: NotRequired[Micro]
    corpus: NotRequired[CorpusRecord]
    crosscheck: NotRequired[CrosscheckRecord]  # --no-crosscheck: none
    gateway: NotRequired[dict[str, Deployment]]  # by subject key: "1", "2-gunicorn", "1@base"
    rounds: NotRequired[RoundsRecord]
    # Derived from the rounds (``summary.summarise``), written again whenever the page is:
    limits: NotRequired[dict[str, LimitSummaryRecord]]  # by limits.LimitKind
    figures: NotRequired[dict[str, dict[str, FigureRecord]]]  # subject → scenario → figure
    open_loop: NotRequired[list[OpenLoopFigureRecord]]
    stall: NotRequired[list[StallFigureRecord]]  # version 5
    acks: NotRequired[list[AckFigureRecord]]  # version 5
    targets: NotRequired[list[TargetRecord]]
    compare: NotRequired[CompareRecord]  # --compare only
    elapsed_s: NotRequired[float]
    command: NotRequired[str]
