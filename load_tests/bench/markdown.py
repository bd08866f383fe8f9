"""BENCHMARKS.md from one bench run: every figure beside its limit and ratio, then the targets.

Everything is computed from the document's rounds (``summary.summarise``), so ``--from-json``
writes the page the run wrote. A ``--compare`` run gets a page of its own (``compare``).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from load_tests.bench import tables
from load_tests.bench.compare import render_compare
from load_tests.bench.document import BenchDoc
from load_tests.bench.figures import View
from load_tests.bench.limits import RAW_CALL, LimitKind
from load_tests.bench.ratios import Ratio
from load_tests.bench.summary import compare_report, record_targets, summarise
from load_tests.bench.tables import n, ranged, x2
from load_tests.bench.targets import Target


def render(doc: BenchDoc, command: str) -> str:
    v = summarise(doc)
    if doc.get("mode") == "compare":
        lines = [*header(doc, command, "# Comparison of two builds"), "",
                 *render_compare(compare_report(doc, v), v), "", *limits(doc, v)]  # fmt: skip
        return "\n".join([*lines, "", *reproduce(command)])
    one = doc["gateway"].get("1")  # the first deployment: open loop, memory
    labels = {k: g["label"] for k, g in doc["gateway"].items()}
    lines = [
        *header(doc, command, "# Benchmarks of record"),
        "",
        *limits(doc, v),
        "",
        *peers(doc),
        *tables.gateway(doc, v),
        "",
        *tables.scaling(doc, v),
        "",
        *tables.open_loop([p for p in v.open_loop() if p.subject == "1"], v.bounds),
        "",
        *tables.stall(v.stall(), v.bounds, labels),
        "",
        *tables.acks(v.acks(), v.bounds, labels),
        "",
        *(tables.memory(one) if one else []),
        "",
        *targets_section(ts := record_targets(doc, v)),
        "",
        *closing(doc, ts),
    ]
    notes = Path(__file__).with_name("notes.md")
    if notes.exists():
        lines += ["", notes.read_text(encoding="utf-8").rstrip()]
    return "\n".join([*lines, "", *reproduce(command)])


def header(doc: BenchDoc, command: str, title: str) -> list[str]:
    m, s = doc["machine"], doc["settings"]
    return [
        title,
        "",
        "Written by `hcgw-load bench` (load_tests/bench); do not edit by hand: rerun it. Every",
        "gateway figure is divided by a limit measured seconds before and after it, in",
        f"{s['rounds']} short rounds: each ratio is the median of the per-round ratios, with",
        "their range, so it holds on a shared machine whose speed drifts by minutes",
        "(docs/load_tests.md, *The benchmark of record*).",
        "",
        f"- run: {doc['started_at']}, {doc['elapsed_s']:.0f} s, git {m.get('git') or '?'}",
        f"- command: `{command}`",
        f"- machine: {m['cpu']}, {m['cores']} cores (affinity {m['affinity']}), "
        f"{m['memory_gib']} GiB, {m['os']}, Python {m['python']}, load average at start "
        f"{m['loadavg']}",
        "- versions: "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + (f", {m['wrk']}" if m.get("wrk") else ""),
        f"- settings: {s['rounds']} rounds, {s['seconds']:g} s per measurement, wrk "
        f"-t{s['wrk_threads']} -c{s['connections']}; a figure is marked (shown, not counted) "
        f"when its per-round ratios spread over {s['max_spread']:.0%} of their median or the "
        f"limits moved over {s['max_drift']:.0%} around one of its measurements; everything "
        f"(wrk, harness, gateway, Redis) on this machine's {m['cores']} cores over loopback"
        + (
            "; py-spy sampled the first deployment (1 worker, one Redis) in one more run of "
            "each scenario after the rounds, not counted: its CPU would come out of the figures"
            if s.get("profile")
            else ""
        ),
    ]


def limits(doc: BenchDoc, v: View) -> list[str]:
    lines = [
        "## Limits",
        "",
        f"Measured in {v.limits.summary(LimitKind.EMPTY).slots} limit slots, one before each "
        "block of gateway measurements and one at the end: the empty handler under wrk (same "
        "settings as the gateway, the better of two runs of half the time), then the gateway's "
        "own signature calls in this process (one core, key preloaded, best of three "
        "sub-rounds). *swing*: highest over lowest "
        "slot, the machine's drift during the run.",
        "",
        "| limit | median | range | swing | note |",
        "|---|---:|---:|---:|---|",
    ]
    empty = v.limits.summary(LimitKind.EMPTY)
    lines.append(f"| empty aiohttp POST handler, wrk | {n(empty.median)} req/s | "
                 f"{n(empty.low)}–{n(empty.high)} | {empty.drift:.0%} | the limit of requests "
                 "|")  # fmt: skip
    for alg, call in RAW_CALL.items():
        rates = [slot.raw[call] for slot in v.limits.slots if call in slot.raw]
        if rates:
            low, high = min(rates), max(rates)
            lines.append(f"| raw verify, {call} | {n(statistics.median(rates))} /s | "
                         f"{n(low)}–{n(high)} | {high / low - 1:.0%} | one core; the gateway's "
                         f"call for {alg} |")  # fmt: skip
    raw = v.limits.summary(LimitKind.RAW)
    shares = ", ".join(f"{a} {x:.0%}" for a, x in doc["corpus"]["valid_algs"].items())
    lines.append(f"| raw verify, corpus mix ({shares}) | {n(raw.median)} /s | "
                 f"{n(raw.low)}–{n(raw.high)} | {raw.drift:.0%} | the limit of codes |")
    micro = doc.get("micro")
    if micro:
        for name, fig in micro["raw"].items():
            if name not in RAW_CALL.values():
                note = "another binding of the same algorithm"
                if name.endswith("verify_signature"):
                    note = "gateway.core.crypto.verify_signature (with its checks)"
                lines.append(f"| raw verify, {name} | {n(fig['best'])} /s | | | one core, "
                             f"before the rounds (best round); {note} |")  # fmt: skip
    cc = doc.get("crosscheck")
    if cc:
        lines.append(f"| this harness (closed loop) vs wrk on the empty handler | "
                     f"{n(cc['harness_rate'])} req/s | | | {cc['agreement']:.2f}× wrk: "
                     f"{cc['verdict']} |")  # fmt: skip
    return lines


def peers(doc: BenchDoc) -> list[str]:
    micro = doc.get("micro")
    if not micro:
        return []
    lines = [
        "## Peers: the same claims, the same keys, verified the way a user would",
        "",
        "Each verifies a token of the same claims: parse, signature (key preloaded), claims,",
        "expiry. Ours: `gateway.core` strict decoding and every step of SPEC §3.1. In-process",
        "rounds, every candidate in turn: rates are medians over the rounds, *ours ÷ this* the",
        "median of the per-round ratios (range in brackets).",
        "",
        "| alg | implementation | verifications/s | ours ÷ this | this ÷ raw call |",
        "|---|---|---:|---:|---:|",
    ]
    for alg, group in micro["peers"].items():
        ours = group["hcgw core (HCM/1)"]
        raw_alg = micro["raw"][RAW_CALL[alg]]["median"]
        for name, fig in sorted(group.items(), key=lambda kv: -kv[1]["median"]):
            r = Ratio(tuple(a / b for a, b in zip(ours["per_round"], fig["per_round"],
                                                  strict=True)))  # fmt: skip
            lines.append(f"| {alg} | {name} | {n(fig['median'])} | {ranged(r)} | "
                         f"{x2(fig['median'] / raw_alg)} |")  # fmt: skip
    return [*lines, ""]


def targets_section(ts: list[Target]) -> list[str]:
    lines = [
        "## Targets",
        "",
        "*ratio*: the median of the per-round ratios, *range* their lowest and highest. A target",
        "whose figure is marked is shown but not counted as met or missed.",
        "",
        "| target | measured | limit | ratio | range | goal | met |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for t in ts:
        r = t.ratio
        if t.value is None or r is None:
            met = "not measured"
        elif t.met is None:
            met = "not counted: " + "; ".join(t.marks)
        else:
            met = "**yes**" if t.met else "no"
        if t.disturbed:
            met += " (disturbed)"
        digits = 2 if t.value is not None and t.value < 100 else 0
        limit_digits = 2 if t.limit_value is not None and t.limit_value < 100 else 0
        rng = "–" if r is None or len(r.per_round) < 2 else f"{r.low:.3f}–{r.high:.3f}"
        lines.append(
            f"| {t.name} | {n(t.value, digits)} | {n(t.limit_value, limit_digits)} ({t.limit}) "
            f"| {'–' if r is None else f'{r.median:.3f}×'} | {rng} | {t.goal:g}× | {met} |"
        )
    return lines


def closing(doc: BenchDoc, ts: list[Target]) -> list[str]:
    counted = [t for t in ts if t.met is not None]
    lines = ["## Closing note", "", f"Met: {sum(1 for t in counted if t.met)} of {len(counted)} "
             f"counted ({len(ts)} targets)."]  # fmt: skip
    for t in ts:
        if t.ratio is not None and t.met is None:
            r = t.ratio
            lines.append(f"- not counted: {t.name}: {r.median:.3f}× ({r.low:.3f}–{r.high:.3f}): "
                         + "; ".join(t.marks))
    for t in counted:
        if not t.met and t.ratio is not None:
            median = t.ratio.median
            by = (1 - median / t.goal) if t.higher else (median / t.goal - 1)
            how = f"{by:.2%} short" if t.higher else f"{by:.1%} over the limit"
            lines.append(f"- missed: {t.name}: {median:.3f}× against {t.goal:g}× ({how})")
    for key, g in doc["gateway"].items():
        for name, fig in g.get("scenarios", {}).items():
            prof = fig.get("profile")
            if prof:
                top = "; ".join(f"{f} {share:.0%}" for f, share in prof["self"][:6])
                lines.append(f"- profile, {g.get('label', key)}, {name} ({prof['samples']} "
                             f"samples, self time): {top}")  # fmt: skip
    return lines


def reproduce(command: str) -> list[str]:
    return ["## Reproduce", "", "```", "apt-get install -y wrk   # Debian's wrk 4.1",
            "./run test               # sets up .venv with the dev (and load) extras",
            command, "```", ""]  # fmt: skip

