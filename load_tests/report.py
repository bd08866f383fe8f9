"""From what a run produced to its report: a JSON document (schema below) and a readable table.

The JSON carries ``schema: "hcgw-load-report"`` and ``schema_version``; its JSON Schema is
``load_tests/report.schema.json``. Every histogram is there as a summary in µs *and* as a
histoblob, so runs can be merged or re-analysed without loss. Phases: ``warmup`` (the first
``warmup_s`` seconds, excluded from thresholds) and ``measured`` (the rest, drain included);
``steps``: one row per step of an open-loop plan. Version 2 added the steps, the preflight,
the hub, errors by SPEC code, bytes both ways, and thresholds as lines a person reads.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

from load_tests import hits
from load_tests.generator import Second
from load_tests.histograms import Histogram
from load_tests.machine import facts as host_facts
from load_tests.records import (
    ConfigRecord,
    HubRecord,
    Machine,
    PreflightRecord,
    Report,
    SeriesRow,
    ServerRecord,
    StepRecord,
    ThresholdRecord,
    as_record,
)
from load_tests.runner import RunData
from load_tests.schedule import NS
from load_tests.scrape import delta
from load_tests.steps import step_rows
from load_tests.tally import Phase, failures, run_counts
from load_tests.thresholds import Thresholds, apply_thresholds
from load_tests.verdict import ExitCode, RunFacts, SelfCheckLimits, WorkloadFacts, judge

SCHEMA = "hcgw-load-report"
SCHEMA_VERSION = 2
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
NO_THRESHOLDS = Thresholds()
DEFAULT_LIMITS = SelfCheckLimits()
__all__ = ["Histogram", "HubInfo", "Report", "build", "exit_code", "write_json"]


@dataclass(frozen=True, slots=True)
class HubInfo:
    """The hub measured: one the harness started for the run (``--spawn-hub``) or not."""

    url: str
    spawned: bool = False
    pid: int | None = None
    workers: int | None = None


def build(
    data: RunData,
    thresholds: Thresholds = NO_THRESHOLDS,
    limits: SelfCheckLimits = DEFAULT_LIMITS,
    *,
    host: Machine | None = None,
    hub: HubInfo | None = None,
) -> Report:
    cfg = data.config
    schedule = cfg.schedule()
    phases = {"warmup": Phase(), "measured": Phase()}
    series = []
    for second in sorted(data.seconds):
        s = data.seconds[second]
        phase = phases["warmup" if second < cfg.warmup_s else "measured"]
        phase.add(s)
        target = schedule.count_between(second * NS, (second + 1) * NS) if schedule else None
        series.append(_row(second, s, target))
    per = cfg.target.codes_per_request
    counts, problems = run_counts(data, phases.values())
    out_phases = {
        name: p.summary(cfg.warmup_s if name == "warmup" else cfg.duration_s, per)
        for name, p in phases.items()
    }
    steps = step_rows(cfg.steps, cfg.warmup_s, schedule, data.seconds) if schedule else []
    server = _server(data)
    expected, observed = hits.expected(data), hits.observed(server)
    hit_expected, hit_observed = hits.compared(expected, observed, cfg.warmup_s)
    lost = sum(counts["errors"].values())
    measured = phases["measured"].hist
    facts = RunFacts(
        mode=cfg.mode,
        problems=tuple(problems),
        gen_lag=measured["gen_lag"].summary(),
        loop_lag=measured["loop_lag"].summary(),
        lateness=measured["lateness"].summary(),
        cpu_share_max=_cpu_share_max(data),
        planned=counts["planned"],
        sent=counts["sent"],
        worst_window_share=_worst_window(series, cfg.warmup_s, cfg.total_s),
        cap_waits=counts["cap_waits"],
        unsent=counts["unsent"],
        unfinished=counts["unfinished"],
        wrong_verdicts=counts["wrong_verdicts"],
        checked=counts["checked"],
        attempts=counts["completed"] + lost,
        failed_answers=counts["completed"] - counts["ok"] + lost,
        failures=failures(counts),
        workload=WorkloadFacts(
            attempts=counts["completed"] + lost,
            hit_expected=hit_expected,
            hit_observed=hit_observed,
            counters=None if cfg.metrics_url is None else server is not None,
            fresh=cfg.repeat.fresh,
            codes=expected["codes"],
            distinct=expected["distinct_codes"],
        ),
    )
    verdict = judge(facts, limits)
    results, code = apply_thresholds(thresholds, out_phases["measured"], verdict, steps)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "hcgw-load", "version": _version()},
        "started_at": datetime.datetime.fromtimestamp(data.t0_wall, datetime.UTC).isoformat(),
        "elapsed_s": round(data.elapsed_s, 3),
        "host": host if host is not None else host_facts(),
        "config": _config(data),
        "hub": as_record(hub, HubRecord) if hub is not None else None,
        "preflight": None if data.preflight is None else as_record(data.preflight, PreflightRecord),
        "verdict": verdict,
        "generator": {"cpu_share_max": round(facts.cpu_share_max, 3)},
        "thresholds": [as_record(r, ThresholdRecord) for r in results],
        "exit_code": int(code),
        "counts": counts,
        "phases": out_phases,
        "steps": [as_record(r, StepRecord) for r in steps],
        "cache": {"expected": expected, "observed": observed},
        "server": server,
        "series": series,
    }


def _row(second: int, s: Second, target: int | None) -> SeriesRow:
    c, h = s.counts, s.hist
    lat, svc = h["latency"].summary(), h["service"].summary()
    errors = sum(s.errors.values()) + sum(v for k, v in s.status.items() if k != "200")
    return {
        "second": second,
        "target": target,
        "sent": c["sent"],
        "completed": c["completed"],
        "ok": s.status.get("200", 0),
        "p50_us": lat["p50"],
        "p99_us": lat["p99"],
        "max_us": lat["max"],
        "service_p99_us": svc["p99"],
        "lateness_p99_us": h["lateness"].summary()["p99"],
        "loop_lag_p99_us": h["loop_lag"].summary()["p99"],
        "errors": errors,
        "inflight": c["inflight"],
        "queued": c["queued"],
        "cpu_us": c["cpu_us"],
    }


def _server(data: RunData) -> ServerRecord | None:
    s = data.scrapes
    if not s.get("before") or not s.get("after"):
        return None
    before, after = s["before"], s["after"]
    assert before is not None
    assert after is not None
    out: ServerRecord = {"run": delta(before, after)}
    if s.get("warmup_end"):
        warm = s["warmup_end"]
        assert warm is not None
        out["measured"] = delta(warm, after)
    return out


def _cpu_share_max(data: RunData) -> float:
    """The busiest generator process's CPU over the measured phase, as a share of one core."""
    shares = [
        r["cpu_measured_us"] / 1e6 / r["measured_intervals"]
        for r in data.results
        if r.get("measured_intervals")
    ]
    return max(shares, default=0.0)


def _worst_window(series: list[SeriesRow], warmup_s: int, total_s: float) -> float | None:
    shares = [
        r["sent"] / r["target"]
        for r in series
        if r["target"] and warmup_s <= r["second"] < int(total_s)
    ]
    return min(shares) if shares else None


def _config(data: RunData) -> ConfigRecord:
    c = data.config
    return {
        "mode": c.mode,
        "url": c.target.url,
        "path": c.target.request_path,
        "batch": c.target.batch,
        "encoding": c.target.encoding,
        "steps": [{"rate": s.rate, "seconds": s.seconds} for s in c.steps],
        "arrival": "poisson" if c.poisson_seed is not None else "constant",
        "warmup_s": c.warmup_s,
        "duration_s": c.duration_s,
        "procs": c.procs,
        "connections_per_proc": c.connections,
        "cpus": list(c.cpus),
        "corpus": c.corpus,
        "repeat": {
            "zipf_s": c.repeat.zipf_s,
            "population": c.repeat.population,
            "fresh": c.repeat.fresh,
            "invalid_share": c.repeat.invalid_share,
            "skip": c.repeat.skip,
            "seed": c.repeat.seed,
        },
        "timeout_s": c.timeout_s,
        "drain_s": c.drain_s,
        "check_every": c.check_every,
        "metrics_url": c.metrics_url,
        "generator_stall": list(c.generator_stall) if c.generator_stall else None,
    }


def _version() -> str:
    try:
        return importlib.metadata.version("hcgw")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def exit_code(report: Report) -> ExitCode:
    return ExitCode(report["exit_code"])
