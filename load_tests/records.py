"""The run report's records: one ``TypedDict`` per section of ``report.schema.json``.

The report *is* JSON: ``report.build`` makes it, ``table``, ``outcome`` and ``plot`` read it,
``--json`` writes it and scripts (and the tests) read it back with ``json.loads``. So its
records are ``TypedDict``s, the JSON itself with its keys typed, not classes converted to
and from it: what is written stays what was built, key for key and in the same order, and a
document read from a file is already the type its readers take. The values the harness
computes with (``StepRow``, ``ThresholdResult``, ``Check``, ``HubInfo``, ``Preflight``,
``WorkloadFacts``) stay frozen dataclasses; ``as_record`` turns one into its section.
``tests/test_load_report.py`` holds the records, the dataclasses and the schema to the same
keys. Imports nothing of the harness: every room may read a report.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Literal, TypedDict, TypeVar, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Status = Literal["VALID", "VALID_WITH_WARNINGS", "SUT_SATURATED", "GENERATOR_SATURATED", "INVALID"]
R = TypeVar("R")


class Summary(TypedDict):
    """``Histogram.summary``: µs, integers (the mean to a tenth); None for an empty one."""

    count: int
    out_of_range: int
    min: int | None
    mean: float | None
    p50: int | None
    p90: int | None
    p99: int | None
    p99_9: int | None
    p99_99: int | None
    max: int | None


class HistogramRecord(Summary):
    histoblob: str  # HdrHistogram's compressed base64; "" for no values


class PhaseRecord(TypedDict):
    seconds: float
    sent: int
    completed: int
    ok: int
    rate: float
    ok_rate: float
    codes_rate: float
    error_rate: float
    status: dict[str, int]
    errors: dict[str, int]
    error_codes: dict[str, int]
    bytes_sent: int
    bytes_received: int
    histograms: dict[str, HistogramRecord]  # by kind: histograms.KINDS


class Counts(TypedDict):
    """The whole run's counts (both phases)."""

    planned: int
    sent: int
    completed: int
    ok: int
    status: dict[str, int]
    errors: dict[str, int]  # requests lost, by how
    errors_by_code: dict[str, int]  # "401 unauthenticated"
    unsent: int
    unfinished: int
    codes_sent: int
    bytes_sent: int
    bytes_received: int
    cap_waits: int
    sent_capped: int
    connect_errors: int
    checked: int
    wrong_verdicts: int
    sent_by_phase: dict[str, int]


class CheckRecord(TypedDict):
    name: str
    ok: bool
    severity: str  # invalid | saturated | sut | warning
    detail: str


class VerdictRecord(TypedDict):
    status: Status
    valid: bool
    checks: list[CheckRecord]


class ThresholdRecord(TypedDict):
    name: str
    limit: float
    value: float | None
    ok: bool
    exit_code: int
    step: int | None
    expression: str
    flag: str


class StepRecord(TypedDict):
    step: int
    rate: float
    start_s: float
    seconds: float
    planned: int
    sent: int
    answered: int
    ok: int
    errors: int
    achieved_rate: float
    ok_rate: float
    latency_p50_us: int | None
    latency_p99_us: int | None
    latency_p99_9_us: int | None
    latency_max_us: int | None


class Delta(TypedDict):
    """The hub's counters between two scrapes (``scrape.delta``)."""

    verifications: int
    outcomes: dict[str, int]
    cache: dict[str, int]  # "layer/outcome"
    cache_lookups: int
    cache_hits: int
    hit_ratio: float | None
    rejected: dict[str, int]
    requests_by_route: dict[str, int]


class ServerRecord(TypedDict, total=False):
    run: Delta  # always there (the schema requires it)
    measured: Delta  # when the warm-up's end was scraped too


class ExpectedHits(TypedDict):
    warmup: float | None
    measured: float | None
    run: float | None
    codes: int
    distinct_codes: int
    wrapped: bool
    outcomes: dict[str, int]


class ObservedHits(TypedDict):
    run: float | None
    measured: float | None


class CacheRecord(TypedDict):
    expected: ExpectedHits
    observed: ObservedHits | None


class RepeatRecord(TypedDict):
    zipf_s: float
    population: int | None
    fresh: bool
    invalid_share: float | None
    skip: int
    seed: int


class PlanStep(TypedDict):
    rate: float
    seconds: float


class ConfigRecord(TypedDict):
    mode: str  # open | closed
    url: str
    path: str
    batch: int
    encoding: str
    steps: list[PlanStep]
    arrival: str  # poisson | constant
    warmup_s: int
    duration_s: float
    procs: int
    connections_per_proc: int
    cpus: list[int]
    corpus: str
    repeat: RepeatRecord
    timeout_s: float
    drain_s: float
    check_every: int
    metrics_url: str | None
    generator_stall: list[float] | None


class Machine(TypedDict, total=False):
    """``machine.facts``; a report built with ``host={}`` (the tests, the self-test) has none."""

    cpu: str
    cores: int | None
    affinity: list[int]
    memory_gib: float | None
    os: str
    python: str
    loadavg: list[float]
    git: str | None
    versions: dict[str, str]
    wrk: str | None


class Tool(TypedDict):
    name: str
    version: str


class Generator(TypedDict):
    cpu_share_max: float


class HubRecord(TypedDict):
    url: str
    spawned: bool
    pid: int | None
    workers: int | None


class PreflightRecord(TypedDict):
    url: str
    path: str
    status: int
    code_index: int
    answer: str
    expected: str


class SeriesRow(TypedDict):
    """One second of the run."""

    second: int
    target: int | None
    sent: int
    completed: int
    ok: int
    p50_us: int | None
    p99_us: int | None
    max_us: int | None
    service_p99_us: int | None
    lateness_p99_us: int | None
    loop_lag_p99_us: int | None
    errors: int
    inflight: int
    queued: int
    cpu_us: int


class Report(TypedDict):
    """``hcgw-load run --json``: ``schema: "hcgw-load-report"``."""

    schema: str
    schema_version: int
    tool: Tool
    started_at: str
    elapsed_s: float
    host: Machine
    config: ConfigRecord
    hub: HubRecord | None
    preflight: PreflightRecord | None
    verdict: VerdictRecord
    generator: Generator
    thresholds: list[ThresholdRecord]
    exit_code: int
    counts: Counts
    phases: dict[str, PhaseRecord]  # warmup, measured
    steps: list[StepRecord]
    cache: CacheRecord
    server: ServerRecord | None
    series: list[SeriesRow]


def as_record(value: DataclassInstance, record: type[R]) -> R:
    """``value``'s fields as the JSON section ``record`` (a TypedDict of the same keys: checked
    here, so a field added to one and not the other fails at once, not in a reader)."""
    keys = {f.name for f in fields(value)}
    declared = record.__required_keys__ | record.__optional_keys__  # type: ignore[attr-defined]
    if keys != declared:
        raise TypeError(f"{type(value).__name__} has {sorted(keys ^ declared)} unlike {record}")
    return cast(R, asdict(value))
