"""The derived sections of a bench document, computed from its rounds: figures, targets, compare.

They are written into the JSON for whoever reads it (the figures with their medians, ranges
and marks), and computed again from the rounds whenever the page is written (``--from-json``
too), so the page and the JSON cannot disagree with the measurements.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import cast

from load_tests.bench.compare import CompareReport, compare, report_json
from load_tests.bench.document import BenchDoc, FigureRecord, LimitSummaryRecord
from load_tests.bench.figures import View, view
from load_tests.bench.latency import ack_json, stall_json
from load_tests.bench.limits import LimitKind
from load_tests.bench.openloop import point_json
from load_tests.bench.ratios import ratio_json
from load_tests.bench.targets import Target, target_json, targets


def summarise(doc: BenchDoc) -> View:
    """Write ``limits``, ``figures``, ``open_loop``, ``stall``, ``acks``, ``targets`` (and
    ``compare``) into ``doc`` from its rounds."""
    v = view(doc)
    b = v.bounds
    doc["limits"] = {k.value: cast(LimitSummaryRecord, asdict(v.limits.summary(k)))
                     for k in LimitKind}  # fmt: skip
    doc["figures"] = {}
    for subject in v.rounds.subjects():
        for name in doc["settings"]["scenarios"]:
            fig = v.figure(subject, name)
            if fig is None:
                continue
            ratios = {"per_empty": ratio_json(fig.per_empty, b),
                      "per_raw": ratio_json(fig.per_raw, b)}  # fmt: skip
            entry = cast(FigureRecord, asdict(fig) | ratios)
            doc["figures"].setdefault(subject, {})[name] = entry
    doc["open_loop"] = [point_json(p, b) for p in v.open_loop()]
    doc["stall"] = [stall_json(f, b) for f in v.stall()]
    doc["acks"] = [ack_json(f, b) for f in v.acks()]
    doc["targets"] = [target_json(t) for t in record_targets(doc, v)]
    if doc.get("mode") == "compare":
        doc["compare"] = report_json(compare_report(doc, v))
    return v


def record_targets(doc: BenchDoc, v: View) -> list[Target]:
    return targets(v, doc.get("micro"), doc.get("micro_quiet"))


def compare_report(doc: BenchDoc, v: View) -> CompareReport:
    builds = {b["name"]: b["label"] for b in doc["builds"]}
    deployments = {k: g["label"] for k, g in doc["gateway"].items() if g["build"] == "head"}
    return compare(v, deployments, doc["settings"]["scenarios"], builds["base"], builds["head"])
