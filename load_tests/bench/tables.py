"""BENCHMARKS.md's gateway tables: maximum rates in rounds, scaling, open loop, a cached code
beside batches, acknowledgements, Redis memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from load_tests.bench.document import BenchDoc, Deployment
from load_tests.bench.figures import View
from load_tests.bench.latency import AckFigure, StallFigure
from load_tests.bench.openloop import Point
from load_tests.bench.ratios import MIN_BEYOND, Bounds, Pooled, Ratio, paired


def n(x: float | None, digits: int = 0) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def ms(us: float | None) -> str:
    return "–" if us is None else f"{us / 1000:.2f}"


def x2(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}×"


def ranged(r: Ratio | None, digits: int = 2) -> str:
    """``0.37× (0.35–0.39)``: the median of the per-round ratios and their range."""
    if r is None:
        return "–"
    if len(r.per_round) == 1:
        return f"{r.median:.{digits}f}×"
    some = f"; {len(r.used)} of {len(r.per_round)} rounds" if len(r.used) < len(r.per_round) else ""
    return f"{r.median:.{digits}f}× ({r.low:.{digits}f}–{r.high:.{digits}f}{some})"


def mark(r: Ratio | None, bounds: Bounds) -> str:
    """A figure's mark: why it is not to be trusted, and whether others kept the machine busy."""
    if r is None:
        return ""
    text = "; ".join(r.marks(bounds))
    if r.disturbed:
        text += ("; " if text else "") + "disturbed"
    return f" **({text})**" if text else ""


def gateway(doc: BenchDoc, v: View) -> list[str]:
    s = doc["settings"]
    lines = [
        "## The gateway: maximum rates (wrk, closed loop)",
        "",
        "*hit*: 100 valid codes repeated (cached after the first pass); *miss*: every code new "
        "to the hub (disjoint corpus slices). Batches are msgpack arrays of 100 codes.",
        "Deployments: `hcgw serve --workers N` (our supervisor: one SO_REUSEPORT socket per "
        "worker) on one embedded redis-server; the same application under gunicorn's "
        "aiohttp worker (one shared socket); and `redis_cluster = true` on a local Redis Cluster "
        "of 3 masters and 3 replicas (registry writes wait for a replica: `WAIT 1`). Each Redis "
        "starts empty; every deployment is up for the whole run.",
        f"Rates and latencies: medians over the {s['rounds']} rounds. Ratios: the median of the "
        "per-round ratios (range in brackets), each round's figure over the limit at that "
        "moment.",
        "",
        "| deployment | scenario | req/s | codes/s | wrk p50 / p99 ms | req ÷ empty | "
        "codes ÷ raw | busy before / others during |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, g in doc["gateway"].items():
        for name in s["scenarios"]:
            fig = v.figure(key, name)
            if fig is None:
                continue
            flag = " (wrapped: repeats)" if fig.wrapped else ""
            flag += f" ({fig.errors} errors)" if fig.errors else ""
            lines.append(
                f"| {g['label']} | {name}{flag} | {n(fig.ok_rate)} | {n(fig.codes_rate)} | "
                f"{ms(fig.p50_us)} / {ms(fig.p99_us)} | "
                f"{ranged(fig.per_empty)}{mark(fig.per_empty, v.bounds)} | "
                f"{ranged(fig.per_raw)}{mark(fig.per_raw, v.bounds)} | "
                f"{fig.busy_before:.0%} / {fig.others_during:.0%}"
                + (f" ({fig.retries} again)" if fig.retries else "") + " |"
            )
    lines += [
        "",
        "*busy before / others during*: the whole machine's CPU use, as a share of all its "
        "cores, in the second before a measurement (others' work: the bench waits up to "
        f"{s.get('max_wait_s', 0):g} s for it to fall under 15 %), and others' alone during it "
        "(the machine's less this bench's processes); the worst round of each. A measurement "
        "during which others took over 10 % was taken again, up to "
        f"{s.get('retries', 0)} times (*again*), when the machine had been quiet before it.",
        "A mark says why a figure is not to be trusted (its rounds spread, or the limits moved "
        "under it; it is shown, not counted) or that others kept the machine busy (disturbed).",
    ]
    return lines


def scaling_pairs(doc: BenchDoc) -> list[tuple[str, str, str]]:
    """The scaling table's columns: (column, numerator key, denominator key), of the working
    tree's deployments that ran."""
    g = {k: e for k, e in doc["gateway"].items() if e.get("build", "head") == "head"}
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
    return [p for p in pairs if p[1] in g and p[2] in g and p[1] != p[2]]


def scaling(doc: BenchDoc, v: View) -> list[str]:
    """Each deployment's codes/s over its counterpart's, round by round, scenario by scenario."""
    pairs = scaling_pairs(doc)
    if not pairs:
        return []
    lines = [
        "## Scaling: workers, server, Redis Cluster",
        "",
        "Codes per second of one deployment over another's (above 1: faster): the median of "
        "the per-round ratios, both measured in the same block seconds apart, and their range.",
        "",
        "| scenario | " + " | ".join(p[0] for p in pairs) + " |",
        "|---|" + "---:|" * len(pairs),
    ]
    for name in doc["settings"]["scenarios"]:
        cells = []
        for _, top, bottom in pairs:
            r = paired(v.rounds.of(top, name), v.rounds.of(bottom, name), v.limits)
            cells.append(ranged(r) + mark(r, v.bounds))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


POOLED = (
    "each percentile is read from all the rounds' latencies together (their histograms "
    "merged), the rounds' own values in brackets"
)
MEDIANS = "medians over the rounds (range in brackets)"  # a document before version 7


def pooled_all(ratios: Sequence[Ratio]) -> bool:
    """Whether a table's latencies are pooled over the rounds (version 7), not medians."""
    return bool(ratios) and all(isinstance(r, Pooled) for r in ratios)


def trusted_when(ratios: Sequence[Ratio], bounds: Bounds) -> str:
    """When a latency figure of a table is marked, pooled or not."""
    if pooled_all(ratios):
        return (f"its p99 has fewer than {MIN_BEYOND} of the latencies pooled above it (fewer "
                f"than {100 * MIN_BEYOND:,} in all), or the limits moved over "
                f"{bounds.max_drift:.0%} around one of its rounds")  # fmt: skip
    return (f"its p99's rounds spread over {bounds.max_spread:.0%} of their median, the limits "
            f"moved over {bounds.max_drift:.0%} around one of them")  # fmt: skip


def open_loop(points: list[Point], bounds: Bounds) -> list[str]:
    if not points:
        return []
    rounds = max(len(p.samples) for p in points)
    if all(p.after_the_rounds for p in points):
        how = "One run per point, after the rounds (a document of version 3)."
    else:
        how = (f"Each point once in each of the {rounds} rounds, after the round's gateway "
               "blocks, at a fraction of the maximum that round measured: "
               + (f"{POOLED}." if pooled_all([p.p99 for p in points])
                  else f"latencies are {MEDIANS}."))  # fmt: skip
    lines = [
        "## The gateway: open-loop latency (this harness, 1 worker)",
        "",
        "Constant arrival rate at a fraction of the maximum above; latency from the *intended*",
        "send time (wrk2's method), service time from the actual send; 1 s warm-up excluded.",
        how,
        f"A point is marked (shown, not counted) when "
        f"{trusted_when([p.p99 for p in points], bounds)}, or a round's verdict was "
        "SUT_SATURATED, GENERATOR_SATURATED or INVALID.",
        "",
        "| traffic | rate | achieved | p50 | p99 | p99.9 | max | service p99 | verdicts | "
        "busy before / others during |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for p in points:
        marks = "; ".join(p.marks(bounds)) + ("; disturbed" if p.p99.disturbed else "")
        lines.append(
            f"| {p.scenario} | {p.fraction:.0%} = {n(p.target_rate)}/s | {n(p.achieved)}/s | "
            f"{ms_ranged(p.p50)} | {ms_ranged(p.p99)} | {ms_ranged(p.p99_9)} | {ms(p.max_us)} | "
            f"{ms(p.service_p99_us)} | {verdicts(p)}"
            + (f" **({marks.removeprefix('; ')})**" if marks else "")
            + f" | {p.busy_before:.0%} / "
            + ("–" if p.after_the_rounds else f"{p.others_during:.0%}")  # version 3: not measured
            + " |"
        )
    return [*lines, "", "Latencies in ms."]


def ms_ranged(r: Ratio) -> str:
    """``5.95 (4.10–6.31)``: a latency over the rounds used (pooled, or their median) and the
    range of the rounds' own values, in ms."""
    if len(r.per_round) == 1:
        return ms(r.median)
    some = f"; {len(r.used)} of {len(r.per_round)}" if len(r.used) < len(r.per_round) else ""
    return f"{ms(r.median)} ({ms(r.low)}–{ms(r.high)}{some})"


def verdicts(p: Point) -> str:
    """``VALID ×3, SUT_SATURATED ×1`` (every round's, used or not), or the one verdict."""
    counts = Counter(s.verdict for s in p.samples)
    if len(p.samples) == 1:
        return p.samples[0].verdict
    return ", ".join(f"{v} ×{k}" for v, k in counts.items())


NOT_MEASURED = "*Not measured in this run* ({flag}, or a document before version 5)."


def _marked(marks: list[str]) -> str:
    return f" **({'; '.join(marks)})**" if marks else ""


def stall(figures: list[StallFigure], bounds: Bounds, labels: dict[str, str]) -> list[str]:
    lines = ["## A batch does not stall its worker: cached single codes beside batches", ""]
    if not figures:
        return [*lines, NOT_MEASURED.format(flag="`--no-stall`")]
    first = figures[0].samples[0]
    rounds = max(len(f.samples) for f in figures)
    lines += [
        f"While wrk keeps {first.connections} connections sending batches of {first.batch:,} "
        "codes new to the hub (the miss runs' corpus slices), one connection sends the hit "
        f"population's cached codes one at a time at {first.probe_rate:g} a second, each "
        "checked against the corpus; latency from each code's *intended* send time (a stall "
        "counts in every code it delays), service time from the actual send, the first 0.5 s "
        f"of batches alone left out. Once in each of the {rounds} rounds, in its last block: "
        + (f"{POOLED};" if pooled_all([f.p99 for f in figures]) else f"{MEDIANS},")
        + " marked (shown, not counted) as an "
        "open-loop point is, or when a round's single codes were answered wrong. "
        "`load_tests/perf/hotpath.py stall` measures the same in one process, without HTTP.",
        "",
        "| deployment | single codes | p50 | p99 | p99.9 | max | service p99 | batches, codes/s "
        "| busy before / others during |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        marks = [*f.marks(bounds), *(["disturbed"] if f.p99.disturbed else [])]
        errors = sum(s.errors for s in f.samples)
        lines.append(
            f"| {labels.get(f.subject, f.subject)} | {n(sum(s.probes for s in f.samples))}"
            f"{_marked(marks)} | {ms_ranged(f.p50)} | {ms_ranged(f.p99)} | {ms_ranged(f.p99_9)} | "
            f"{ms(f.max_us)} | {ms(f.service_p99_us)} | {n(f.codes_rate)}"
            + (" (wrapped: repeats)" if any(s.wrapped for s in f.samples) else "")
            + (f" ({errors} errors)" if errors else "")
            + f" | {max(s.busy_before for s in f.used):.0%} / "
            f"{max(s.others_during for s in f.used):.0%} |"
        )
    return [*lines, "", "Latencies in ms; *single codes*: answered over every round."]


def acks(figures: list[AckFigure], bounds: Bounds, labels: dict[str, str]) -> list[str]:
    lines = ["## The write side: a `status` message's acknowledgement on busy workers", ""]
    if not figures:
        return [*lines, NOT_MEASURED.format(flag="`--no-acks`")]
    rounds = max(len(f.samples) for f in figures)
    lines += [
        f"While wrk keeps the workers at their maximum with cached single codes "
        f"({figures[0].samples[0].connections} connections), one connection sends `status` "
        "messages one after another (each signed before its clock starts, one event for a "
        "subject no code carries, from the hub's mark on): each message's time to its 2xx. "
        f"{_ack_deployments(figures)} Once in each of the {rounds} rounds, in "
        "its last block: "
        + (f"{POOLED};" if pooled_all([f.p99 for f in figures]) else f"{MEDIANS},")
        + " marked (shown, not "
        "counted) as an open-loop point is, or when the hub refused a message. With leases a "
        "write is acknowledged once every worker holding a live lease has confirmed its "
        "invalidation, or that worker's lease has run out: **the worst case is the lease "
        "time, 1 s** (docs/caching.md), reached only by a worker that stops (SIGSTOP, a long "
        "pause) while holding one. `key.revoke` and `key.add` take the same path to their 2xx "
        "and are not measured apart.",
        "",
        "| deployment | lease_invalidation | messages | p50 | p99 | max | verifications "
        "meanwhile | busy before / others during |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        marks = [*f.marks(bounds), *(["disturbed"] if f.p99.disturbed else [])]
        lines.append(
            f"| {labels.get(f.subject, f.subject)} | {'on' if f.leases else 'off'} | "
            f"{n(sum(s.messages for s in f.samples))}{_marked(marks)} | {ms_ranged(f.p50)} | "
            f"{ms_ranged(f.p99)} | {ms(f.max_us)} | {n(f.verify_rate)}/s | "
            f"{max(s.busy_before for s in f.used):.0%} / "
            f"{max(s.others_during for s in f.used):.0%} |"
        )
    return [*lines, "", "Latencies in ms; *messages*: acknowledged over every round."]


def memory(one: Deployment) -> list[str]:
    ms_ = one.get("memory_status", {})
    miss = one.get("scenarios", {}).get("single code, cache miss", {}).get("memory", {})
    bmiss = one.get("scenarios", {}).get("batch of 100, cache miss", {}).get("memory", {})
    if not (ms_ or miss or bmiss):
        return []
    return [
        "## Redis memory",
        "",
        "| what | keys added | bytes per key (INFO used_memory delta) | MEMORY USAGE (sample) |",
        "|---|---:|---:|---:|",
        f"| cached signature outcome (verdict cache), single-code miss run | "
        f"{n(miss.get('cached_outcomes'))} | {n(miss.get('bytes_per_cached_outcome'), 1)} | "
        f"{n(one.get('memory_cached_sample'), 1)} |",
        f"| cached signature outcome, batch miss run | {n(bmiss.get('cached_outcomes'))} | "
        f"{n(bmiss.get('bytes_per_cached_outcome'), 1)} | |",
        f"| stored status (provinces_sim prime) | {n(ms_.get('statuses'))} | "
        f"{n(ms_.get('bytes_per_status'), 1)} | {n(ms_.get('memory_usage_sample'), 1)} |",
    ]


def _ack_deployments(figures: list[AckFigure]) -> str:
    """Which of the acknowledgement deployments are the rounds' own: those with leases since
    version 6, when they became the hub's default; those without before."""
    rounds_have_leases = any(f.leases and "-" not in f.subject for f in figures)
    if rounds_have_leases:
        return ("`lease_invalidation` on (the hub's default): the rounds' deployments; off: "
                "the same worker counts on a Redis of their own, measured only here.")  # fmt: skip
    return ("`lease_invalidation` off: the rounds' deployments; on: the same worker counts on "
            "a Redis of their own, measured only here.")  # fmt: skip
