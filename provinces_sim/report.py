"""The run's report: a summary a newcomer can read, and the same facts as JSON.

The text has a table per province (the province a code claims as its issuer) and its totals
per signing algorithm, what each kind of code the simulator made came back as, the status
channel and key life in numbers, the load burst, and the oracle's verdict. Nothing in it
identifies a person: no ID number, no pseudonym.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections import Counter
from typing import Any

from provinces_sim.burst import BurstResult
from provinces_sim.census import ED25519, ES256, PROVINCES, SM2
from provinces_sim.oracle import COLOURS
from provinces_sim.scenario import Outcome
from provinces_sim.world import World

REASONS = (
    "MALFORMED", "UNKNOWN_ISSUER", "ISSUER_KEY_MISMATCH", "UNKNOWN_KID", "ALG_MISMATCH",
    "KEY_REVOKED", "KEY_NOT_VALID", "BAD_SIGNATURE", "NOT_YET_VALID", "EXPIRED",
)  # fmt: skip
_SHORT = {
    "MALFORMED": "MAL", "UNKNOWN_ISSUER": "UISS", "ISSUER_KEY_MISMATCH": "MISM",
    "UNKNOWN_KID": "UKID", "ALG_MISMATCH": "ALG", "KEY_REVOKED": "REV", "KEY_NOT_VALID": "KNV",
    "BAD_SIGNATURE": "SIG", "NOT_YET_VALID": "NYV", "EXPIRED": "EXP",
}  # fmt: skip
_TOTALLED = ("residents", "scans", *COLOURS, "invalid", "mismatches")  # per algorithm


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value: object, width: int, *, left: bool = False) -> str:
    text = f"{value:,}" if isinstance(value, int) else str(value)
    pad = " " * max(0, width - _width(text))
    return text + pad if left else pad + text


def _table(
    header: list[str], rows: list[list[object]], left: int = 1, right_from_end: int = 0
) -> list[str]:
    """Columns before ``left`` and the last ``right_from_end`` are left-aligned."""
    table: list[list[object]] = [list(header), *rows]
    widths = [
        max(_width(f"{r[i]:,}" if isinstance(r[i], int) else str(r[i])) for r in table)
        for i in range(len(header))
    ]
    out = []
    for r in table:
        out.append(
            "  ".join(
                _cell(v, w, left=i < left) for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def build(
    world: World, outcome: Outcome, burst: BurstResult | None, meta: dict[str, Any]
) -> dict[str, Any]:
    tally = outcome.tally
    provinces: list[dict[str, Any]] = []
    for p in PROVINCES:
        row = tally.rows.get(p.iss)
        outcomes = row.outcomes if row else Counter()
        provinces.append(
            {
                "iss": p.iss,
                "name": p.name,
                "alg": p.alg,
                "residents": len(world.issuers[p.iss].residents),
                "scans": row.scans if row else 0,
                **{c: outcomes[c] for c in COLOURS},
                "invalid": row.invalid if row else 0,
                "reasons": {r: outcomes[r] for r in REASONS if outcomes[r]},
                "mismatches": row.mismatches if row else 0,
            }
        )
    other = tally.rows.get("other")
    algorithms: dict[str, Counter[str]] = {alg: Counter() for alg in (ED25519, ES256, SM2)}
    for entry in provinces:
        algorithms[entry["alg"]]["issuers"] += 1
        algorithms[entry["alg"]].update({f: entry[f] for f in _TOTALLED})
    burst_mismatches = burst.mismatches if burst else 0
    return {
        "format": "hcgw-demo-report",
        "version": 1,
        **meta,
        "passed": outcome.passed and burst_mismatches == 0,
        "oracle": {
            "verdicts_checked": tally.scans + (burst.codes if burst else 0),
            "mismatches": tally.mismatches + burst_mismatches,
            "unanswered": tally.unanswered,
            "statuses_lost": outcome.lost,
            "marks_at_last_seq": outcome.marks_ok,
            "sweep_scans": outcome.sweep_scans,
            "failures": outcome.failures,
        },
        "residents": outcome.residents,
        "scans": tally.scans,
        "outcomes": dict(tally.outcomes()),
        "provinces": provinces,
        "algorithms": {
            alg: {f: c[f] for f in ("issuers", *_TOTALLED)} for alg, c in algorithms.items()
        },
        "other_issuer_scans": {"scans": other.scans, "outcomes": dict(other.outcomes)}
        if other
        else None,
        "clients": dict(tally.clients),
        "requests": dict(tally.requests),
        "kinds": {k: dict(v) for k, v in sorted(tally.kinds.items())},
        "status_channels": dataclasses.asdict(outcome.channels),
        "marks": {iss: {"mark": m, "last_seq": s} for iss, (m, s) in outcome.marks.items()},
        "keys": {"registered": outcome.keys_added, "revoked": outcome.keys_revoked},
        "skipped_ticks": outcome.skipped_ticks,
        "scenario_seconds": round(outcome.seconds, 1),
        "story": outcome.story,
        "burst": burst.as_dict() if burst else None,
        "errors": dict(outcome.tally.errors),
        "mismatch_samples": tally.mismatch_samples,
    }


def render(report: dict[str, Any], *, story: bool = True) -> str:
    lines = ["", "What happened", "-------------", *report["story"]] if story else []
    lines.append("")
    rows: list[list[object]] = []
    for p in report["provinces"]:
        reasons = " ".join(f"{_SHORT[r]}:{n}" for r, n in p["reasons"].items())
        rows.append(
            [p["iss"], p["name"], p["alg"], p["residents"], p["scans"], p["green"], p["yellow"],
             p["red"], p["invalid"], p["mismatches"], reasons or "-"]
        )  # fmt: skip
    header = ["iss", "province", "alg", "residents", "scans", "green", "yellow", "red",
              "invalid", "mismatches", "invalid by reason"]  # fmt: skip
    lines += ["Verdicts per issuing province", "-----------------------------"]
    lines += _table(header, rows, left=3, right_from_end=1)
    if report["other_issuer_scans"]:
        lines.append(f"(codes with no enrolled issuer to count them under, malformed or claiming "
                     f"an unenrolled one: {report['other_issuer_scans']['scans']:,})")  # fmt: skip
    lines.append("reasons: " + ", ".join(f"{s} {r}" for r, s in _SHORT.items()))
    alg_rows: list[list[object]] = [
        [alg, *(a[f] for f in ("issuers", *_TOTALLED))] for alg, a in report["algorithms"].items()
    ]
    lines += ["", "The same per signing algorithm (the claimed issuer's)", "-" * 53]
    lines += _table(["alg", "issuers", *header[3:10]], alg_rows)
    lines += ["", "What the simulator sent, and what the hub answered", "-" * 50]
    kind_rows: list[list[object]] = [
        [kind, sum(outcomes.values()), ", ".join(f"{o} {n:,}" for o, n in sorted(outcomes.items()))]
        for kind, outcomes in report["kinds"].items()
    ]
    lines += _table(["code kind", "scans", "hub's verdicts"], kind_rows, right_from_end=1)
    ch = report["status_channels"]
    lines += [
        "",
        f"status: {ch['events']:,} events in {ch['messages']:,} messages; {ch['sends']:,} POSTs, "
        f"{ch['resends']:,} resent from the mark, {ch['mark_reads']:,} mark reads, "
        f"{ch['fallbacks']} marks fallen back, {ch['conflicts']} 409 stale_seq/seq_gap",
        f"keys: {report['keys']['registered']} registered, {report['keys']['revoked']} revoked; "
        f"requests: {report['requests'].get('single', 0):,} single, "
        f"{report['requests'].get('batch', 0):,} batch; scans by client: "
        + ", ".join(f"{k} {n:,}" for k, n in sorted(report["clients"].items())),
    ]
    burst = report["burst"]
    if burst:
        lines.append(
            f"load burst: {burst['concurrency']} concurrent clients, batches of {burst['batch']} "
            f"from a pool of {burst['pool']:,} current codes, {burst['seconds']} s: "
            f"{burst['codes']:,} codes in {burst['requests']:,} requests = "
            f"{burst['codes_per_second']:,.0f} codes/s (p50 {burst['p50_ms']} ms, p99 "
            f"{burst['p99_ms']} ms per batch; {burst['errors']} errors). The simulator shares "
            "the machine with the hub: load_tests/ measures the hub properly."
        )
    if report["errors"]:
        lines.append("errors seen (retried or reported): " + "; ".join(
            f"{n}× {e}" for e, n in report["errors"].items()))  # fmt: skip
    oracle = report["oracle"]
    verdict = "PASS" if report["passed"] else "FAIL"
    lines += [
        "",
        f"ORACLE: {oracle['mismatches']} mismatches in {oracle['verdicts_checked']:,} verdicts "
        f"checked; {oracle['unanswered']} unanswered; statuses lost: {oracle['statuses_lost']}; "
        f"every mark at its issuer's last seq: {'yes' if oracle['marks_at_last_seq'] else 'NO'}"
        f" — {verdict}",
    ]
    for failure in oracle["failures"]:
        lines.append(f"  failure: {failure}")
    for sample in report["mismatch_samples"][:5]:
        lines.append(f"  mismatch ({sample['kind']}, {sample['client']}): "
                     + "; ".join(sample["differences"]))  # fmt: skip
    return "\n".join(lines) + "\n"
