"""From what a run produced to its report: a JSON document (schema below) and a readable table.

The JSON carries ``schema: "hcgw-load-report"`` and ``schema_version``; its JSON Schema is
``load_tests/report.schema.json``. Every histogram is there as a summary in µs *and* as a
histoblob, so runs can be merged or re-analysed without loss. Phases: ``warmup`` (the first
``warmup_s`` seconds, excluded from thresholds) and ``measured`` (the rest, drain included).
"""

from __future__ import annotations

import collections
import datetime
import json
from pathlib import Path
from typing import Any

from load_tests.histograms import KINDS, Histogram, HistogramSet
from load_tests.machine import facts as host_facts
from load_tests.runner import RunData
from load_tests.schedule import NS
from load_tests.scrape import delta
from load_tests.verdict import ExitCode, SelfCheckLimits, Thresholds, apply_thresholds, judge
from load_tests.workload import expected_hits

SCHEMA = "hcgw-load-report"
SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
NO_THRESHOLDS = Thresholds()
DEFAULT_LIMITS = SelfCheckLimits()
__all__ = ["Histogram", "build", "exit_code", "sent_draws", "write_json"]


def build(
    data: RunData,
    thresholds: Thresholds = NO_THRESHOLDS,
    limits: SelfCheckLimits = DEFAULT_LIMITS,
    *,
    host: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cfg = data.config
    schedule = cfg.schedule()
    phases = {"warmup": _Phase(), "measured": _Phase()}
    series = []
    for second in sorted(data.seconds):
        s = data.seconds[second]
        phase = phases["warmup" if second < cfg.warmup_s else "measured"]
        phase.add(s)
        target = schedule.count_between(second * NS, (second + 1) * NS) if schedule else None
        series.append(_row(second, s, target))
    per = cfg.target.codes_per_request
    run_counts = _run_counts(data, phases)
    cache_expected = _expected_hit_ratio(data)
    measured_s = cfg.duration_s
    out_phases = {
        name: p.summary(cfg.warmup_s if name == "warmup" else measured_s, per)
        for name, p in phases.items()
    }
    server = _server(data)
    facts = {
        "mode": cfg.mode,
        "accounting": run_counts["accounting"],
        "gen_lag": phases["measured"].hist["gen_lag"].summary(),
        "loop_lag": phases["measured"].hist["loop_lag"].summary(),
        "lateness": phases["measured"].hist["lateness"].summary(),
        "cpu_share_max": _cpu_share_max(data),
        "planned": run_counts["planned"],
        "sent": run_counts["sent"],
        "worst_window_share": _worst_window(series, cfg.warmup_s, cfg.total_s),
        "cap_waits": run_counts["cap_waits"],
        "unsent": run_counts["unsent"],
        "unfinished": run_counts["unfinished"],
        "wrong_verdicts": run_counts["wrong_verdicts"],
        "checked": run_counts["checked"],
        "failed_answers": run_counts["completed"]
        - run_counts["ok"]
        + sum(run_counts["errors"].values()),
        "failures": {
            **{k: v for k, v in run_counts["status"].items() if k != "200"},
            **run_counts["errors"],
        },
    }
    verdict = judge(facts, limits)
    threshold_results, exit_code = apply_thresholds(thresholds, out_phases["measured"], verdict)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "hcgw-load", "version": _version()},
        "started_at": datetime.datetime.fromtimestamp(data.t0_wall, datetime.UTC).isoformat(),
        "elapsed_s": round(data.elapsed_s, 3),
        "host": host if host is not None else host_facts(),
        "config": _config(data),
        "verdict": verdict,
        "thresholds": threshold_results,
        "exit_code": int(exit_code),
        "counts": {k: v for k, v in run_counts.items() if k != "accounting"},
        "phases": out_phases,
        "cache": {"expected": cache_expected, "observed": _observed(server)},
        "server": server,
        "series": series,
    }


class _Phase:
    def __init__(self) -> None:
        self.hist = HistogramSet()
        self.counts: collections.Counter[str] = collections.Counter()
        self.status: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.seconds = 0

    def add(self, s: dict[str, Any]) -> None:
        self.hist.add(s["hist"])
        self.counts.update(s["counts"])
        self.status.update(s["status"])
        self.errors.update(s["errors"])
        self.seconds += 1

    def summary(self, seconds: float, per: int) -> dict[str, Any]:
        completed = self.counts["completed"]
        ok = self.status.get("200", 0)
        failed = completed - ok + sum(self.errors.values()) + self.counts["wrong_verdicts"]
        attempts = completed + sum(self.errors.values())
        return {
            "seconds": seconds,
            "sent": self.counts["sent"],
            "completed": completed,
            "ok": ok,
            "rate": completed / seconds if seconds else 0.0,
            "ok_rate": ok / seconds if seconds else 0.0,
            "codes_rate": ok * per / seconds if seconds else 0.0,
            "error_rate": failed / attempts if attempts else 0.0,
            "status": dict(sorted(self.status.items())),
            "errors": dict(sorted(self.errors.items())),
            "histograms": {
                kind: {**self.hist[kind].summary(), "histoblob": self.hist[kind].encode()["blob"]}
                for kind in KINDS
            },
        }


def _row(second: int, s: dict[str, Any], target: int | None) -> dict[str, Any]:
    c, h = s["counts"], s["hist"]
    lat, svc = h["latency"].summary(), h["service"].summary()
    errors = sum(s["errors"].values()) + sum(v for k, v in s["status"].items() if k != "200")
    return {
        "second": second,
        "target": target,
        "sent": c["sent"],
        "completed": c["completed"],
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


def _run_counts(data: RunData, phases: dict[str, _Phase]) -> dict[str, Any]:
    total: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    status: collections.Counter[str] = collections.Counter()
    for p in phases.values():
        total.update(p.counts)
        errors.update(p.errors)
        status.update(p.status)
    unsent = sum(r.get("unsent", 0) for r in data.results)
    unfinished = sum(r.get("unfinished", 0) for r in data.results)
    slot_errors = sum(errors.values())
    sent, completed = total["sent"], total["completed"]
    schedule = data.config.schedule()
    planned = schedule.count if schedule else sent
    problems = []
    if sent != completed + slot_errors + unfinished:
        problems.append(
            f"sent {sent} != answered {completed} + lost {slot_errors} + unanswered {unfinished}"
        )
    if schedule is not None and planned != sent + unsent:
        problems.append(f"planned {planned} != sent {sent} + never sent {unsent}")
    by_phase = collections.Counter[str]()
    for r in data.results:
        by_phase.update(r.get("sent_by_phase", {}))
    if sum(by_phase.values()) != sent:
        problems.append(f"sends by phase {dict(by_phase)} do not add up to {sent}")
    return {
        "planned": planned,
        "sent": sent,
        "completed": completed,
        "ok": status.get("200", 0),
        "status": dict(sorted(status.items())),
        "errors": dict(sorted(errors.items())),
        "unsent": unsent,
        "unfinished": unfinished,
        "codes_sent": total["codes_sent"],
        "cap_waits": total["cap_waits"],
        "sent_capped": total["sent_capped"],
        "connect_errors": total["connect_errors"],
        "checked": total["checked"],
        "wrong_verdicts": total["wrong_verdicts"],
        "sent_by_phase": dict(by_phase),
        "accounting": {"problems": problems},
    }


def sent_draws(data: RunData) -> dict[str, list[int]]:
    """The corpus index of every code sent, by phase, in global slot order."""
    cfg = data.config
    k, per, n = cfg.procs, cfg.target.codes_per_request, len(data.draws)
    slots: dict[str, list[int]] = {"warmup": [], "measured": []}
    for j, r in enumerate(data.results):
        by = r.get("sent_by_phase", {})
        w, m = by.get("warmup", 0), by.get("measured", 0)
        mine = [j + k * x for x in range(w + m)]
        slots["warmup"] += mine[:w]
        slots["measured"] += mine[w:]
    return {
        phase: [data.draws[(s * per + t) % n] for s in sorted(ss) for t in range(per)]
        for phase, ss in slots.items()
    }


def _expected_hit_ratio(data: RunData) -> dict[str, Any]:
    from load_tests.corpus import load_corpus

    codes = load_corpus(data.config.corpus, limit=data.config.corpus_limit).codes
    draws = sent_draws(data)
    seen: set[int] = set()
    w_hits, w_n = expected_hits(draws["warmup"], codes, seen)
    m_hits, m_n = expected_hits(draws["measured"], codes, seen)
    outcomes = collections.Counter(codes[d].expect.outcome for d in draws["warmup"])
    outcomes.update(codes[d].expect.outcome for d in draws["measured"])
    return {
        "warmup": w_hits / w_n if w_n else None,
        "measured": m_hits / m_n if m_n else None,
        "run": (w_hits + m_hits) / (w_n + m_n) if w_n + m_n else None,
        "codes": w_n + m_n,
        "distinct_codes": len(seen),
        "wrapped": (w_n + m_n) > len(data.draws),
        "outcomes": dict(sorted(outcomes.items())),
    }


def _server(data: RunData) -> dict[str, Any] | None:
    s = data.scrapes
    if not s.get("before") or not s.get("after"):
        return None
    before, after = s["before"], s["after"]
    assert before is not None
    assert after is not None
    out = {"run": delta(before, after)}
    if s.get("warmup_end"):
        warm = s["warmup_end"]
        assert warm is not None
        out["measured"] = delta(warm, after)
    return out


def _observed(server: dict[str, Any] | None) -> dict[str, Any] | None:
    if server is None:
        return None
    return {
        "run": server["run"]["hit_ratio"],
        "measured": server.get("measured", {}).get("hit_ratio"),
    }


def _cpu_share_max(data: RunData) -> float:
    """The busiest generator process's CPU over the measured phase, as a share of one core."""
    shares = [
        r["cpu_measured_us"] / 1e6 / r["measured_intervals"]
        for r in data.results
        if r.get("measured_intervals")
    ]
    return max(shares, default=0.0)


def _worst_window(series: list[dict[str, Any]], warmup_s: int, total_s: float) -> float | None:
    shares = [
        r["sent"] / r["target"]
        for r in series
        if r["target"] and warmup_s <= r["second"] < int(total_s)
    ]
    return min(shares) if shares else None


def _config(data: RunData) -> dict[str, Any]:
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
    import importlib.metadata

    try:
        return importlib.metadata.version("hcgw")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def exit_code(report: dict[str, Any]) -> ExitCode:
    return ExitCode(report["exit_code"])
