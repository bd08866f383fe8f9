"""Counting a run: each phase's histograms and counters, and the run's accounting.

Every request must be accounted for, ``planned = sent + never sent`` and ``sent = answered +
lost + unanswered``; a request that is not is a bug, never noise, and makes the run invalid.
Answers other than 200 are counted by status and by SPEC error code (``401 unauthenticated``),
requests lost by how (``connection_lost``, ``timeout``): together, the report's error table.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from load_tests.expectations import listing
from load_tests.generator import Second
from load_tests.histograms import KINDS, HistogramSet
from load_tests.records import Counts, PhaseRecord
from load_tests.runner import RunData


class Phase:
    def __init__(self) -> None:
        self.hist = HistogramSet()
        self.counts: collections.Counter[str] = collections.Counter()
        self.status: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.error_codes: collections.Counter[str] = collections.Counter()
        self.seconds = 0

    def add(self, s: Second) -> None:
        self.hist.add(s.hist)
        self.counts.update(s.counts)
        self.status.update(s.status)
        self.errors.update(s.errors)
        self.error_codes.update(s.error_codes)
        self.seconds += 1

    def summary(self, seconds: float, per: int) -> PhaseRecord:
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
            "error_codes": dict(sorted(self.error_codes.items())),
            "bytes_sent": self.counts["bytes_sent"],
            "bytes_received": self.counts["bytes_received"],
            "histograms": {
                kind: {**self.hist[kind].summary(), "histoblob": self.hist[kind].encode()["blob"]}
                for kind in KINDS
            },
        }


def run_counts(data: RunData, phases: Iterable[Phase]) -> tuple[Counts, list[str]]:
    """The run's counts, and what does not add up in them (nothing, in a sound run)."""
    total: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    status: collections.Counter[str] = collections.Counter()
    codes: collections.Counter[str] = collections.Counter()
    for p in phases:
        total.update(p.counts)
        errors.update(p.errors)
        status.update(p.status)
        codes.update(p.error_codes)
    unsent = sum(r.get("unsent", 0) for r in data.results)
    unfinished = sum(r.get("unfinished", 0) for r in data.results)
    slot_errors = sum(errors.values())
    sent, completed = total["sent"], total["completed"]
    schedule = data.config.schedule()
    planned = schedule.count if schedule else sent
    problems = []
    if sent != completed + slot_errors + unfinished:
        problems.append(
            f"sent {sent:,} != answered {completed:,} + lost {slot_errors:,} "
            f"+ unanswered {unfinished:,}"
        )
    if schedule is not None and planned != sent + unsent:
        problems.append(f"planned {planned:,} != sent {sent:,} + never sent {unsent:,}")
    by_phase = collections.Counter[str]()
    for r in data.results:
        by_phase.update(r.get("sent_by_phase", {}))
    if sum(by_phase.values()) != sent:
        problems.append(f"sends by phase ({listing(by_phase)}) do not add up to {sent:,}")
    counts: Counts = {
        "planned": planned,
        "sent": sent,
        "completed": completed,
        "ok": status.get("200", 0),
        "status": dict(sorted(status.items())),
        "errors": dict(sorted(errors.items())),
        "errors_by_code": dict(sorted(codes.items())),
        "unsent": unsent,
        "unfinished": unfinished,
        "codes_sent": total["codes_sent"],
        "bytes_sent": total["bytes_sent"],
        "bytes_received": total["bytes_received"],
        "cap_waits": total["cap_waits"],
        "sent_capped": total["sent_capped"],
        "connect_errors": total["connect_errors"],
        "checked": total["checked"],
        "wrong_verdicts": total["wrong_verdicts"],
        "sent_by_phase": dict(by_phase),
    }
    return counts, problems


def failures(counts: Counts) -> dict[str, int]:
    """Error answers by status and SPEC code, and lost requests by how: the error table."""
    out = dict(counts["errors_by_code"])
    coded: collections.Counter[str] = collections.Counter()
    for key, n in out.items():
        coded[key.split(" ", 1)[0]] += n
    for status, n in counts["status"].items():
        if status != "200" and n > coded.get(status, 0):
            out[f"{status} -"] = n - coded.get(status, 0)
    out.update(counts["errors"])
    return out
