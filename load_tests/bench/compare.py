"""``--compare REV``: the working tree over a revision, scenario by scenario, round by round.

Both builds run side by side (each deployment once per build, every build on Redis of its
own), so every block measures a scenario on the two builds seconds apart, in an order that
alternates from round to round. A row is the median of the per-round ratios of codes/s,
working tree over revision (above 1: the working tree is faster), with its range, marked like
any other figure (``ratios.Bounds``). This is the tool for showing a hot-path change's effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from load_tests.bench.document import CompareRecord
from load_tests.bench.figures import View
from load_tests.bench.limits import LimitKind
from load_tests.bench.ratios import Ratio, paired


def subject_key(deployment: str, build: str) -> str:
    """A subject's key: the deployment's for the working tree (``"1"``), ``"1@base"`` else."""
    return deployment if build == "head" else f"{deployment}@{build}"


@dataclass(frozen=True, slots=True)
class CompareRow:
    deployment: str  # its label
    scenario: str
    base: float  # codes/s, median over rounds
    head: float
    ratio: Ratio  # head ÷ base, per round


@dataclass(frozen=True, slots=True)
class CompareReport:
    base: str  # the builds' labels
    head: str
    rows: tuple[CompareRow, ...]


def compare(view: View, deployments: Mapping[str, str], scenarios: Sequence[str],
            base: str, head: str) -> CompareReport:  # fmt: skip
    """Rows for every deployment (key → label) and scenario that both builds measured."""
    rows = []
    for key, label in deployments.items():
        for scenario in scenarios:
            top = view.rounds.of(subject_key(key, "head"), scenario)
            bottom = view.rounds.of(subject_key(key, "base"), scenario)
            ratio = paired(top, bottom, view.limits)
            a = view.figure(subject_key(key, "base"), scenario)
            b = view.figure(subject_key(key, "head"), scenario)
            if ratio is not None and a is not None and b is not None:
                rows.append(CompareRow(label, scenario, a.codes_rate, b.codes_rate, ratio))
    return CompareReport(base, head, tuple(rows))


def render_compare(report: CompareReport, view: View) -> list[str]:
    """The comparison as a Markdown section."""
    b = view.bounds
    lines = [
        f"## Working tree ÷ {report.base}",
        "",
        f"Codes per second of the {report.head} over {report.base}, measured in the same "
        f"{view.rounds.rounds} rounds of {view.rounds.seconds:g} s (above 1: the working tree is "
        "faster). *ratio*: the median of the per-round ratios; *range*: their lowest and highest.",
        f"Marked when the rounds spread more than {b.max_spread:.0%} of the median, or the limits "
        f"moved more than {b.max_drift:.0%} between the slots around a measurement.",
        "",
        f"| deployment | scenario | {report.base} codes/s | working tree codes/s | ratio | range "
        "| per round | mark |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in report.rows:
        r = row.ratio
        lines.append(
            f"| {row.deployment} | {row.scenario} | {row.base:,.0f} | {row.head:,.0f} | "
            f"{r.median:.3f}× | {r.low:.3f}–{r.high:.3f} | "
            + " ".join(f"{x:.3f}" for x in r.per_round)
            + f" | {'; '.join(r.marks(b)) or ''}{' (disturbed)' if r.disturbed else ''} |"
        )
    empty = view.limits.summary(LimitKind.EMPTY)
    lines += [
        "",
        f"The empty handler over the run: {empty.median:,.0f} req/s (range {empty.low:,.0f}–"
        f"{empty.high:,.0f} over {empty.slots} slots, a swing of {empty.drift:.0%}).",
    ]
    return lines


def report_json(report: CompareReport) -> CompareRecord:
    return {
        "base": report.base,
        "head": report.head,
        "rows": [
            {"deployment": r.deployment, "scenario": r.scenario, "base_codes_rate": r.base,
             "head_codes_rate": r.head, "ratio": r.ratio.median, "low": r.ratio.low,
             "high": r.ratio.high, "per_round": list(r.ratio.per_round), "drift": r.ratio.drift}
            for r in report.rows
        ],
    }  # fmt: skip
