"""The report as a person reads it: the verdict and each threshold first, one line each (k6's
habit: ✓/✗ and the value), then what ran, latency side by side, a row per step, the errors as
a table, the counts, the cache and the hub's own counters. Latency in ms, three significant
digits, everywhere; no Python reprs."""

from __future__ import annotations

from typing import Literal

from load_tests.expectations import listing
from load_tests.outcome import configuration, headline
from load_tests.records import CheckRecord, Counts, Report, StepRecord
from load_tests.tally import failures
from load_tests.units import count, data, ms, ms_unit, pct, rate

_ROWS = (
    ("latency", "latency (from intended send)"),
    ("service", "service time (from actual send)"),
    ("lateness", "send lateness"),
    ("gen_lag", "generator lag (free connection)"),
    ("loop_lag", "event-loop lag (5 ms heartbeat)"),
)
_COLS: tuple[Literal["p50", "p90", "p99", "p99_9", "p99_99", "max"], ...] = (
    "p50", "p90", "p99", "p99_9", "p99_99", "max")  # fmt: skip


def render(report: Report) -> str:
    failed = [c for c in report["verdict"]["checks"] if not c["ok"]]
    lines = [headline(report)]
    lines += [_check(c) for c in failed if c["severity"] != "warning"]  # why it is not valid
    for t in report["thresholds"]:
        lines.append(f"  {'✓' if t['ok'] else '✗'} {t['expression']}  ({t['flag']})")
    lines += [_check(c) for c in failed if c["severity"] == "warning"]
    lines += ["", *_summary(report), "", *_latency(report)]
    if len(report["steps"]) > 1:
        lines += ["", *_steps(report["steps"])]
    errors = failures(report["counts"])
    if errors:
        lines += ["", *_errors(errors, report["counts"])]
    lines += ["", *_counts(report)]
    return "\n".join(lines)


def _check(check: CheckRecord) -> str:
    return f"  ! {check['name']} [{check['severity']}]: {check['detail']}"


def _summary(report: Report) -> list[str]:
    cfg, m, w = report["config"], report["phases"]["measured"], report["phases"]["warmup"]
    c = report["counts"]
    out = [configuration(cfg)]
    p = report["preflight"]
    if p:
        out.append(f"preflight: one code answered 200 '{p['answer']}' as the corpus expects")
    out.append(
        f"measured {m['seconds']:g} s: {rate(m['rate'])} answered, {rate(m['ok_rate'])} ok, "
        f"{rate(m['codes_rate'])} codes, error rate {pct(m['error_rate'])}"
    )
    if w["seconds"]:
        out.append(
            f"warm-up {w['seconds']:g} s: {rate(w['rate'])} answered, latency p99 "
            f"{ms_unit(w['histograms']['latency']['p99'])} (not in the figures below)"
        )
    elapsed = report["elapsed_s"] or 1.0
    out.append(
        f"data sent {data(c['bytes_sent'])} ({data(c['bytes_sent'] / elapsed)}/s), received "
        f"{data(c['bytes_received'])} ({data(c['bytes_received'] / elapsed)}/s)"
    )
    return out


def _latency(report: Report) -> list[str]:
    hists = report["phases"]["measured"]["histograms"]
    head = f"{'ms, measured phase':<34}" + "".join(f"{c.replace('_', '.'):>9}" for c in _COLS)
    out = [head + f"{'count':>10}"]
    for kind, label in _ROWS:
        h = hists[kind]
        out.append(
            f"{label:<34}" + "".join(f"{ms(h[col]):>9}" for col in _COLS) + f"{h['count']:>10,}"
        )
    return out


def _steps(steps: list[StepRecord]) -> list[str]:
    out = [
        f"{'step':>4}  {'plan':<14}{'planned':>9}{'sent':>9}{'answered':>10}{'ok/s':>9}"
        f"{'p50':>9}{'p99':>9}{'p99.9':>9}{'errors':>8}  (latency in ms)"
    ]
    for s in steps:
        plan = f"{rate(s['rate'])} × {s['seconds']:g} s"
        out.append(
            f"{s['step']:>4}  {plan:<14}{s['planned']:>9,}{s['sent']:>9,}{s['answered']:>10,}"
            f"{rate(s['ok_rate']).removesuffix('/s'):>9}{ms(s['latency_p50_us']):>9}"
            f"{ms(s['latency_p99_us']):>9}{ms(s['latency_p99_9_us']):>9}{s['errors']:>8,}"
        )
    return out


def _errors(errors: dict[str, int], c: Counts) -> list[str]:
    attempts = c["completed"] + sum(c["errors"].values())
    out = [f"{'errors, whole run':<42}{'count':>9}{'share':>9}"]
    for key, n in sorted(errors.items(), key=lambda kv: -kv[1]):
        status, _, code = key.partition(" ")
        if not code:  # a request lost: no status
            status, code = "-", key
        share = pct(n / attempts) if attempts else "-"
        out.append(f"{status:<7}{code:<35}{n:>9,}{share:>9}")
    return out


def _counts(report: Report) -> list[str]:
    c, cache = report["counts"], report["cache"]
    exp, obs = cache["expected"], cache["observed"]
    out = [
        f"requests: planned {count(c['planned'])}, sent {count(c['sent'])}, answered "
        f"{count(c['completed'])} (ok {count(c['ok'])}), lost {count(sum(c['errors'].values()))}, "
        f"never sent {count(c['unsent'])}, unanswered {count(c['unfinished'])}; waits for a "
        f"connection {count(c['cap_waits'])}; verdicts checked {count(c['checked'])}, wrong "
        f"{count(c['wrong_verdicts'])}",
        f"cache hit ratio, measured phase: expected {pct(exp['measured'])}, observed "
        f"{pct(obs['measured'] if obs else None)}; whole run: expected {pct(exp['run'])}, "
        f"observed {pct(obs['run'] if obs else None)}",
    ]
    server = report["server"]
    if server:
        run = server["run"]
        out.append(
            f"hub counted {count(run['verifications'])} verifications: "
            f"{listing(run['outcomes']) or 'none'}; refused: {listing(run['rejected']) or 'none'}"
        )
    else:
        out.append("hub counters: not available (no /metrics at the target)")
    return out
