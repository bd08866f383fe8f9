"""``hcgw-load bench --agree A.json B.json``: how far two runs of the bench agree, ratio by ratio.

The bench is only as good as its repeatability: two back-to-back runs on one machine should
give the same ratios (issue 16: within ±10 %). This lists every ratio both documents hold,
side by side, each with its median, its range and how many rounds it was read from, the
relative difference ``B ÷ A − 1``, and each run's marks (the figure's rounds spread, the limits
moved under it, a round's verdict, others disturbed it), then ``within ±10 %: n of m`` and the
misses, largest first. A ratio only one document holds is a miss too: the runs measured
different things.

The ratios are those of the page (``markdown``), computed again from each document's rounds:
every gateway figure over both its limits, the scaling table, the targets (peers, open-loop
latency, a cached code beside batches and the acknowledgements included), and with
``--compare`` documents the working tree over the revision. A marked ratio is listed and
counted like any other: a mark says why a figure cannot be trusted, not that a disagreement
does not count.
"""

from __future__ import annotations

from dataclasses import dataclass

from load_tests.bench.document import BenchDoc
from load_tests.bench.figures import View, view
from load_tests.bench.ratios import Ratio, paired
from load_tests.bench.summary import compare_report, record_targets
from load_tests.bench.tables import scaling_pairs

TOLERANCE = 0.10


@dataclass(frozen=True, slots=True)
class Entry:
    """One ratio of one run: its median over the rounds used, their range, its marks."""

    median: float
    low: float
    high: float
    used: int  # rounds it was read from
    rounds: int  # rounds measured
    marks: tuple[str, ...] = ()

    def text(self) -> str:
        if self.rounds == 1:
            return f"{self.median:.4g}"
        return f"{self.median:.4g} ({self.low:.4g}–{self.high:.4g}, {self.used}/{self.rounds})"


def _entry(r: Ratio, marks: tuple[str, ...]) -> Entry:
    extra = ("disturbed",) if r.disturbed else ()
    return Entry(r.median, r.low, r.high, len(r.used), len(r.per_round), (*marks, *extra))


def entries(doc: BenchDoc) -> dict[str, Entry]:
    """Every ratio of a document, by name, in the page's order."""
    v = view(doc)
    out: dict[str, Entry] = {}
    scenarios = doc["settings"]["scenarios"]
    for subject in v.rounds.subjects():
        label = doc["gateway"][subject]["label"]
        for name in scenarios:
            fig = v.figure(subject, name)
            if fig is not None:
                out[f"{label} · {name} · req ÷ empty"] = _entry(
                    fig.per_empty, fig.per_empty.marks(v.bounds)
                )
                out[f"{label} · {name} · codes ÷ raw"] = _entry(
                    fig.per_raw, fig.per_raw.marks(v.bounds)
                )
    for column, top, bottom in scaling_pairs(doc):
        for name in scenarios:
            r = paired(v.rounds.of(top, name), v.rounds.of(bottom, name), v.limits)
            if r is not None:
                out[f"scaling: {column} · {name}"] = _entry(r, r.marks(v.bounds))
    if doc.get("mode") == "compare":
        out |= _compare(doc, v)
    else:
        for t in record_targets(doc, v):
            if t.ratio is not None and not t.restates:  # a ratio once
                out[f"target: {t.name}"] = _entry(t.ratio, t.marks)
    return out


def _compare(doc: BenchDoc, v: View) -> dict[str, Entry]:
    report = compare_report(doc, v)
    return {f"compare: {row.deployment} · {row.scenario} · "
            f"{report.head} ÷ {report.base}": _entry(row.ratio, row.ratio.marks(v.bounds))
            for row in report.rows}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    a: Entry | None
    b: Entry | None

    @property
    def difference(self) -> float | None:
        """``B ÷ A − 1``; None when one run lacks the ratio (or A's is 0)."""
        if self.a is None or self.b is None or not self.a.median:
            return None
        return self.b.median / self.a.median - 1

    def agrees(self, tolerance: float) -> bool:
        d = self.difference
        return d is not None and abs(d) <= tolerance


@dataclass(frozen=True, slots=True)
class Agreement:
    a: str  # what each run was: its file, when, which commit
    b: str
    rows: tuple[Row, ...]
    tolerance: float
    differences: tuple[str, ...] = ()  # settings the two runs did not share

    @property
    def within(self) -> int:
        return sum(1 for r in self.rows if r.agrees(self.tolerance))

    @property
    def misses(self) -> list[Row]:
        """The rows that do not agree, the largest difference first, missing ones last."""
        out = [r for r in self.rows if not r.agrees(self.tolerance)]
        return sorted(out, key=lambda r: -abs(r.difference) if r.difference is not None else 1)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and self.within == len(self.rows)


def agreement(a: BenchDoc, b: BenchDoc, tolerance: float = TOLERANCE, *,
              sources: tuple[str, str] = ("", "")) -> Agreement:  # fmt: skip
    """The two runs' ratios side by side; ``sources``: where each document came from."""
    names = ("A", "B")
    ea, eb = entries(a), entries(b)
    rows = tuple(Row(k, ea.get(k), eb.get(k)) for k in [*ea, *(k for k in eb if k not in ea)])
    keys = ("rounds", "seconds", "connections", "workers", "scenarios", "gunicorn", "cluster",
            "max_spread", "max_drift", "open_loop_seconds", "stall_seconds",
            "ack_seconds")  # fmt: skip
    sa, sb = a["settings"], b["settings"]
    differences = tuple(f"{k}: {sa.get(k)!r} in {names[0]}, {sb.get(k)!r} in {names[1]}"
                        for k in keys if sa.get(k) != sb.get(k))  # fmt: skip
    if a.get("mode") != b.get("mode"):
        differences += (f"mode: {a.get('mode')} in {names[0]}, {b.get('mode')} in {names[1]}",)
    return Agreement(_describe("A", a, sources[0]), _describe("B", b, sources[1]), rows,
                     tolerance, differences)  # fmt: skip


def _describe(name: str, doc: BenchDoc, source: str) -> str:
    s, m = doc["settings"], doc["machine"]
    elapsed = doc.get("elapsed_s")
    took = f", {elapsed:.0f} s" if elapsed is not None else ""
    where = f" ({source})" if source else ""
    return (f"{name}{where}: run of {doc['started_at']}{took}, git {m.get('git') or '?'}, "
            f"{s['rounds']} rounds of {s['seconds']:g} s, load average at start "
            f"{m['loadavg']}, schema version {doc['schema_version']}")  # fmt: skip


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:+.1%}"


def render_agreement(ag: Agreement) -> str:
    tol = f"±{ag.tolerance:.0%}"
    lines = [
        "# Agreement of two bench runs",
        "",
        f"- {ag.a}",
        f"- {ag.b}",
        *(f"- settings differ: {d}" for d in ag.differences),
        "",
        "Each ratio's median over the rounds it was read from, (lowest–highest, rounds used / "
        "measured); *B ÷ A − 1* the relative difference of the medians; *marks*: why a run "
        "does not trust the figure (listed and counted all the same).",
        "",
        "| ratio | A | B | B ÷ A − 1 | marks |",
        "|---|---:|---:|---:|---|",
    ]
    for r in ag.rows:
        marks = "; ".join([*(f"A: {m}" for m in (r.a.marks if r.a else ())),
                           *(f"B: {m}" for m in (r.b.marks if r.b else ()))])  # fmt: skip
        flag = "" if r.agrees(ag.tolerance) else " **✗**"
        lines.append(f"| {r.name} | {r.a.text() if r.a else 'not measured'} | "
                     f"{r.b.text() if r.b else 'not measured'} | {_pct(r.difference)}{flag} | "
                     f"{marks} |")  # fmt: skip
    marked = sum(1 for r in ag.rows if (r.a and r.a.marks) or (r.b and r.b.marks))
    lines += ["", f"**within {tol}: {ag.within} of {len(ag.rows)}** ({marked} of them marked in "
              "one run or both)"]  # fmt: skip
    for r in ag.misses:
        if r.a is None or r.b is None:
            lines.append(f"- only in {'A' if r.b is None else 'B'}: {r.name}")
        elif r.difference is None:
            lines.append(f"- A's median is 0: {r.name}")
        else:
            lines.append(f"- {_pct(r.difference)}: {r.name}")
    return "\n".join(lines) + "\n"
