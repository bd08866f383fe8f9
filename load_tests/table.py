"""The report as a person reads it: verdict first, then rates, latency side by side, counts."""

from __future__ import annotations

from typing import Any

_ROWS = (
    ("latency", "latency (from intended send)"),
    ("service", "service time (from actual send)"),
    ("lateness", "send lateness"),
    ("gen_lag", "generator lag (free connection)"),
    ("loop_lag", "event-loop lag (5 ms heartbeat)"),
)
_COLS = ("p50", "p90", "p99", "p99_9", "p99_99", "max")


def ms(us: float | None) -> str:
    if us is None:
        return "-"
    return f"{us / 1000:.3f}" if us < 10_000 else f"{us / 1000:.1f}"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def render(report: dict[str, Any]) -> str:
    v, cfg, c = report["verdict"], report["config"], report["counts"]
    m, w = report["phases"]["measured"], report["phases"]["warmup"]
    lines = [f"verdict: {v['status']}  (exit code {report['exit_code']})"]
    for check in v["checks"]:
        if not check["ok"]:
            lines.append(f"  ! {check['name']} [{check['severity']}]: {check['detail']}")
    for t in report["thresholds"]:
        mark = "ok  " if t["ok"] else "FAIL"
        lines.append(f"  {mark} {t['name']}: {t['value']} (limit {t['limit']})")
    target = ", ".join(f"{s['rate']:g}/s for {s['seconds']:g} s" for s in cfg["steps"])
    lines += [
        "",
        f"{cfg['mode']} loop, {cfg['procs']} process(es) × {cfg['connections_per_proc']} "
        f"connections → {cfg['url']}{cfg['path']}"
        + (f", batches of {cfg['batch']}" if cfg["batch"] else ", single codes")
        + (f"; plan {target}" if target else ""),
        f"measured {m['seconds']:g} s: {m['rate']:,.0f} answers/s, {m['ok_rate']:,.0f} ok/s, "
        f"{m['codes_rate']:,.0f} codes/s, error rate {pct(m['error_rate'])}",
        f"warm-up  {w['seconds']:g} s: {w['rate']:,.0f} answers/s, latency p99 "
        f"{ms(w['histograms']['latency']['p99'])} ms (excluded from the figures below)",
        "",
        f"{'ms':<34}" + "".join(f"{col.replace('_', '.'):>9}" for col in _COLS) + f"{'count':>10}",
    ]
    for kind, label in _ROWS:
        h = m["histograms"][kind]
        lines.append(
            f"{label:<34}" + "".join(f"{ms(h[col]):>9}" for col in _COLS) + f"{h['count']:>10,}"
        )
    cache = report["cache"]
    exp, obs = cache["expected"], cache["observed"]
    lines += [
        "",
        f"requests: planned {c['planned']:,}, sent {c['sent']:,}, answered {c['completed']:,} "
        f"(ok {c['ok']:,}), lost {sum(c['errors'].values()):,}, never sent {c['unsent']:,}, "
        f"unanswered {c['unfinished']:,}; waits for a connection {c['cap_waits']:,}",
        f"status {c['status']}  errors {c['errors'] or '{}'}  "
        f"verdicts checked {c['checked']:,}, wrong {c['wrong_verdicts']:,}",
        f"cache hit ratio, measured phase: expected {pct(exp['measured'])}, observed "
        f"{pct(obs['measured'] if obs else None)}; whole run: expected {pct(exp['run'])}, "
        f"observed {pct(obs['run'] if obs else None)}"
        + ("  (draw sequence wrapped)" if exp["wrapped"] else ""),
    ]
    server = report["server"]
    if server:
        run = server["run"]
        lines.append(
            f"hub counted {run['verifications']:,} verifications {run['outcomes']}, "
            f"rejected {run['rejected'] or '{}'}"
        )
    else:
        lines.append("hub counters: not available (no /metrics at the target)")
    return "\n".join(lines)
