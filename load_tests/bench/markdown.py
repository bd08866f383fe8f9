"""BENCHMARKS.md from one bench run: every figure beside its limit and ratio, then the targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from load_tests.bench.hub import SCENARIOS
from load_tests.bench.targets import RAW_CALL, disturbed, raw_mix


def _n(x: float | None, digits: int = 0) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def _ms(us: float | None) -> str:
    return "–" if us is None else f"{us / 1000:.2f}"


def _x(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}×"


def _x3(r: float | None) -> str:  # targets: enough digits to see which side of the goal
    return "–" if r is None else f"{r:.3f}×"


def render(doc: dict[str, Any], command: str) -> str:
    m, s = doc["machine"], doc["settings"]
    empty = doc["empty"]["rate"]
    raw = raw_mix(doc)
    lines = [
        "# Benchmarks of record",
        "",
        "Written by `hcgw-load bench` (load_tests/bench); do not edit by hand: rerun it. Every",
        "gateway figure is given beside a limit measured in the same run on the same machine,",
        "so the ratios hold on a noisy or shared machine where absolute rates do not.",
        "",
        f"- run: {doc['started_at']}, {doc['elapsed_s']:.0f} s, git {m.get('git') or '?'}",
        f"- command: `{command}`",
        f"- machine: {m['cpu']}, {m['cores']} cores (affinity {m['affinity']}), "
        f"{m['memory_gib']} GiB, {m['os']}, Python {m['python']}, load average at start "
        f"{m['loadavg']}",
        "- versions: "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + (f", {m['wrk']}" if m.get("wrk") else ""),
        f"- settings: {s['seconds']:g} s per measurement, wrk -t{s['wrk_threads']} "
        f"-c{s['connections']}; everything (wrk, harness, gateway, Redis) on this machine's "
        f"{m['cores']} cores over loopback"
        + (
            "; py-spy sampled the gateway at 200 Hz (non-blocking) during each wrk run of the "
            "first deployment (1 worker, one Redis) only: its CPU would come out of the others'"
            if s.get("profile")
            else ""
        ),
        "",
        "## Limits",
        "",
        "| limit | rate | note |",
        "|---|---:|---|",
    ]
    for name, fig in doc["micro"]["raw"].items():
        note = "the gateway's call" if name in RAW_CALL.values() else ""
        if name.endswith("verify_signature"):
            note = "gateway.core.crypto.verify_signature (with its checks)"
        lines.append(f"| raw verify, {name} | {_n(fig['best'])} /s | one core; {note} |")
    shares = ", ".join(f"{a} {v:.0%}" for a, v in doc["corpus"]["valid_algs"].items())
    lines += [
        f"| raw verify, corpus mix ({shares}) | {_n(raw)} /s | the limit for codes below |",
        f"| empty aiohttp POST handler, wrk | {_n(empty)} req/s | the better of "
        f"{_n(doc['empty'].get('rate_start', empty))} (first) and "
        f"{_n(doc.get('empty_end', {}).get('rate'))} (last measurement of the run) |",
    ]
    cc = doc["empty"]["crosscheck"]
    lines += [
        f"| this harness (closed loop) vs wrk on the empty handler | {_n(cc['harness_rate'])} "
        f"req/s | {cc['agreement']:.2f}× wrk: {cc['verdict']} |",
        "",
        "## Peers: the same claims, the same keys, verified the way a user would",
        "",
        "Each verifies a token of the same claims: parse, signature (key preloaded), claims,",
        "expiry. Ours: `gateway.core` strict decoding and every step of SPEC §3.1.",
        "",
        "| alg | implementation | verifications/s | ours ÷ this | this ÷ raw call |",
        "|---|---|---:|---:|---:|",
    ]
    for alg, peers in doc["micro"]["peers"].items():
        ours = peers["hcgw core (HCM/1)"]["best"]
        raw_alg = doc["micro"]["raw"][RAW_CALL[alg]]["best"]
        for name, fig in sorted(peers.items(), key=lambda kv: -kv[1]["best"]):
            lines.append(
                f"| {alg} | {name} | {_n(fig['best'])} | {_x(ours / fig['best'])} | "
                f"{_x(fig['best'] / raw_alg)} |"
            )
    lines += [
        "",
        "## The gateway: maximum rates (wrk, closed loop)",
        "",
        "*hit*: 100 valid codes repeated (cached after the first pass); *miss*: every code new "
        "to the hub (disjoint corpus slices). Batches are msgpack arrays of 100 codes.",
        "Deployments: `hcgw serve --workers N` (our supervisor: one SO_REUSEPORT socket per "
        "worker) on one embedded redis-server; the same application under gunicorn's "
        "aiohttp worker (one shared socket); and `redis_cluster = true` on a local Redis Cluster "
        "of 3 masters and 3 replicas (registry writes wait for a replica: `WAIT 1`). Each Redis "
        "starts empty.",
        "",
        "| deployment | scenario | req/s | codes/s | wrk p50 / p99 ms | req ÷ empty | "
        "codes ÷ raw | busy before / during |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, g in doc["gateway"].items():
        label = g.get("label", f"{key} worker(s)")
        for name, fig in g.get("scenarios", {}).items():
            flag = " (wrapped: repeats)" if fig.get("wrapped") else ""
            flag += " (disturbed: the machine was busy before)" if disturbed(fig) else ""
            err = sum(fig["errors"].values())
            flag += f" ({err} errors)" if err else ""
            lines.append(
                f"| {label} | {name}{flag} | {_n(fig['ok_rate'])} | {_n(fig['codes_rate'])} | "
                f"{_ms(fig['latency_us']['p50'])} / {_ms(fig['latency_us']['p99'])} | "
                f"{_x(fig['ok_rate'] / empty)} | {_x(fig['codes_rate'] / raw)} | "
                f"{fig.get('busy_before', 0):.0%} / {fig.get('system_busy', 0):.0%} |"
            )
    one = doc["gateway"].get("1", {})
    lines += [
        "",
        "*busy before / during*: the whole machine's CPU use, as a share of all its cores, in",
        "the second before the measurement (others' work: the bench waits up to "
        f"{s.get('max_wait_s', 0):g} s for it",
        "to fall under 15 %) and during it (ours and others').",
        "",
        *scaling(doc),
        "",
        "## The gateway: open-loop latency (this harness, 1 worker)",
        "",
        "Constant arrival rate at a fraction of the maximum above; latency from the *intended*",
        "send time (wrk2's method), service time from the actual send; 1 s warm-up excluded.",
        "",
        "| traffic | rate | achieved | p50 | p90 | p99 | p99.9 | max | service p99 | verdict | "
        "busy before / during |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for p in one.get("open_loop", []):
        lat = p["latency_us"]
        lines.append(
            f"| {p['traffic']} | {p['fraction']:.0%} = {_n(p['target_rate'])}/s | "
            f"{_n(p['achieved'])}/s | {_ms(lat['p50'])} | {_ms(lat['p90'])} | {_ms(lat['p99'])} | "
            f"{_ms(lat['p99_9'])} | {_ms(lat['max'])} | {_ms(p['service_us']['p99'])} | "
            f"{p['verdict']}{' (disturbed)' if disturbed(p) else ''} | "
            f"{p.get('busy_before', 0):.0%} / {p.get('system_busy', 0):.0%} |"
        )
    lines += ["", "Latencies in ms.", "", "## Redis memory", ""]
    ms = one.get("memory_status", {})
    miss = one.get("scenarios", {}).get("single code, cache miss", {}).get("memory", {})
    bmiss = one.get("scenarios", {}).get("batch of 100, cache miss", {}).get("memory", {})
    lines += [
        "| what | keys added | bytes per key (INFO used_memory delta) | MEMORY USAGE (sample) |",
        "|---|---:|---:|---:|",
        f"| cached signature outcome (verdict cache), single-code miss run | "
        f"{_n(miss.get('cached_outcomes'))} | {_n(miss.get('bytes_per_cached_outcome'), 1)} | "
        f"{_n(one.get('memory_cached_sample'), 1)} |",
        f"| cached signature outcome, batch miss run | {_n(bmiss.get('cached_outcomes'))} | "
        f"{_n(bmiss.get('bytes_per_cached_outcome'), 1)} | |",
        f"| stored status (provinces_sim prime) | {_n(ms.get('statuses'))} | "
        f"{_n(ms.get('bytes_per_status'), 1)} | {_n(ms.get('memory_usage_sample'), 1)} |",
        "",
        "## Targets",
        "",
        "| target | measured | limit | ratio | goal | met |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for t in doc["targets"]:
        met = "**yes**" if t["met"] else "no"
        if t["value"] is None:
            met = "not measured"
        elif t.get("disturbed"):
            met += " (disturbed)"
        lines.append(
            f"| {t['target']} | {_n(t['value'], 2 if t['value'] and t['value'] < 100 else 0)} | "
            f"{_n(t['limit_value'], 2 if t['limit_value'] < 100 else 0)} ({t['limit']}) | "
            f"{_x3(t['ratio'])} | {t['goal']:g}× | {met} |"
        )
    lines += ["", "## Closing note", ""]
    reached = [t for t in doc["targets"] if t["met"]]
    missed = [t for t in doc["targets"] if not t["met"] and t["value"] is not None]
    lines.append(f"Met: {len(reached)} of {len(doc['targets'])}.")
    shaky = [t["target"] for t in doc["targets"] if t.get("disturbed")]
    if shaky:
        lines.append(
            "Measured while others' work kept the machine busy (the bench waited "
            f"{s.get('max_wait_s', 0):g} s and went on), to be read with care: " + "; ".join(shaky)
        )
    for t in missed:
        higher = "≤" not in t["target"]
        by = (1 - t["ratio"] / t["goal"]) if higher else (t["ratio"] / t["goal"] - 1)
        how = f"{by:.2%} short" if higher else f"{by:.1%} over the limit"
        lines.append(f"- missed: {t['target']}: {_x3(t['ratio'])} against {t['goal']:g}× ({how})")
    for key, g in doc["gateway"].items():
        for name, fig in g.get("scenarios", {}).items():
            prof = fig.get("profile")
            if prof:
                top = "; ".join(f"{f} {share:.0%}" for f, share in prof["self"][:6])
                lines.append(f"- profile, {g.get('label', key)}, {name} ({prof['samples']} "
                             f"samples, self time): {top}")  # fmt: skip
    notes = Path(__file__).with_name("notes.md")
    if notes.exists():
        lines += ["", notes.read_text(encoding="utf-8").rstrip()]
    lines += ["", "## Reproduce", "", "```", "apt-get install -y wrk   # Debian's wrk 4.1",
              "./run test               # sets up .venv with the dev (and load) extras",
              command, "```", ""]  # fmt: skip
    return "\n".join(lines)


def scaling(doc: dict[str, Any]) -> list[str]:
    """Each deployment's rate over its counterpart's, scenario by scenario."""
    g = doc["gateway"]
    counts = sorted(int(k) for k in g if k.isdigit())  # hcgw serve on one Redis: "1", "2"
    if not counts:
        return []
    most = counts[-1]
    pairs = [  # (column, numerator key, denominator key)
        (f"{most} ÷ {counts[0]} workers", str(most), str(counts[0])),
        (f"gunicorn ÷ supervisor, {most} workers", f"{most}-gunicorn", str(most)),
        *((f"cluster ÷ one Redis, {w} worker{'s' if w > 1 else ''}", f"{w}-cluster", str(w))
          for w in counts),
    ]  # fmt: skip
    pairs = [p for p in pairs if p[1] in g and p[2] in g and p[1] != p[2]]
    if not pairs:
        return []
    lines = [
        "## Scaling: workers, server, Redis Cluster",
        "",
        "Codes per second of one deployment over another's, in the same run (above 1: faster).",
        "",
        "| scenario | " + " | ".join(p[0] for p in pairs) + " |",
        "|---|" + "---:|" * len(pairs),
    ]
    for name, *_ in SCENARIOS:
        cells = []
        for _, top, bottom in pairs:
            a = g[top]["scenarios"].get(name)
            b = g[bottom]["scenarios"].get(name)
            ok = a and b and b["codes_rate"]
            cells.append(_x(a["codes_rate"] / b["codes_rate"]) if ok else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
