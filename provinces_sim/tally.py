"""Counting what was scanned and what the hub answered, per province, client and code kind.

A row belongs to the province the code claims as its issuer (``other`` for codes claiming an
issuer that is not enrolled, or none). ``mismatches`` are verdicts that differ from the
oracle's in any field; the first 50 are kept whole for the report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from provinces_sim.census import BY_ISS
from provinces_sim.codes import IssuedCode, Kind
from provinces_sim.keystore import Client
from provinces_sim.oracle import COLOURS, Verdict, differences, outcome

KEPT_MISMATCHES = 50


@dataclass(slots=True)
class Row:
    scans: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # colour or reason
    mismatches: int = 0

    @property
    def invalid(self) -> int:
        return self.scans - sum(self.outcomes[c] for c in COLOURS)


@dataclass
class Tally:
    rows: dict[str, Row] = field(default_factory=dict)
    clients: Counter[str] = field(default_factory=Counter)  # client kind → scans
    requests: Counter[str] = field(default_factory=Counter)  # single / batch
    kinds: dict[str, Counter[str]] = field(default_factory=dict)  # code kind → outcomes
    mismatch_samples: list[dict[str, Any]] = field(default_factory=list)
    unanswered: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def scans(self) -> int:
        return sum(r.scans for r in self.rows.values())

    @property
    def mismatches(self) -> int:
        return sum(r.mismatches for r in self.rows.values())

    def outcomes(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for row in self.rows.values():
            total.update(row.outcomes)
        return total

    def record(self, code: IssuedCode, client: Client, expected: Verdict, got: Any) -> None:
        claims = code.truth.claims
        iss = claims.iss if claims is not None and claims.iss in BY_ISS else "other"
        row = self.rows.setdefault(iss, Row())
        row.scans += 1
        label = outcome(got) if isinstance(got, dict) else "no-verdict"
        row.outcomes[label] += 1
        self.clients[client.kind] += 1
        self.kinds.setdefault(code.truth.kind.value, Counter())[label] += 1
        diff = differences(expected, got)
        if diff:
            row.mismatches += 1
            if len(self.mismatch_samples) < KEPT_MISMATCHES:
                self.mismatch_samples.append(
                    {
                        "kind": code.truth.kind.value,
                        "client": client.id,
                        "differences": diff,
                        "expected": expected,
                        "got": got,
                    }
                )

    def record_unanswered(self, count: int, error: Exception) -> None:
        self.unanswered += count
        self.errors[str(error)[:200]] += 1

    def kind_count(self, kind: Kind) -> int:
        return sum(self.kinds.get(kind.value, Counter()).values())
