"""``hcgw-load crosscheck``: the same endpoint and bodies, driven by wrk and then by the harness.

Both run closed loops with the same number of connections for the same time. wrk is a C
generator that engineers trust; if the harness reaches much less than wrk, the harness is the
bottleneck and its closed-loop rate is its own ceiling, not the server's: the result says so
(and exits 3). Latencies are compared service time to service time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from load_tests import report as reports
from load_tests.bodies import body_for
from load_tests.corpus import load_corpus
from load_tests.runner import RunConfig, run
from load_tests.verdict import ExitCode
from load_tests.workload import draw_sequence

WRK_BODIES = 200_000  # wrk cycles through at most this many requests' bodies


def wrk_bodies(cfg: RunConfig, count: int) -> tuple[str, list[bytes]]:
    """(content type, bodies) of the first ``count`` requests of the harness's own sequence."""
    corpus = load_corpus(cfg.corpus, limit=cfg.corpus_limit)
    per = cfg.target.codes_per_request
    draws = draw_sequence(corpus.codes, cfg.repeat, count * per)
    bodies, ctype = [], "application/octet-stream"
    for slot in range(count):
        codes = [corpus.codes[draws[slot * per + t]].code for t in range(per)]
        ctype, body = body_for(cfg.target, codes)
        bodies.append(body)
    return ctype, bodies


def crosscheck(cfg: RunConfig, *, min_agreement: float = 0.8) -> dict[str, Any]:
    from load_tests.wrk import run_wrk

    connections = cfg.connections * cfg.procs
    count = min(WRK_BODIES, max(1, len(load_corpus(cfg.corpus, limit=cfg.corpus_limit).codes)))
    ctype, bodies = wrk_bodies(cfg, count)
    with tempfile.TemporaryDirectory(prefix="hcgw-crosscheck-") as tmp:
        wrk = run_wrk(
            cfg.target.url,
            cfg.target.request_path,
            bodies,
            ctype,
            token=cfg.target.token,
            seconds=cfg.duration_s,
            connections=connections,
            workdir=Path(tmp),
            cpus=cfg.cpus,
            timeout_s=cfg.timeout_s,
        )
    data = run(cfg)
    doc = reports.build(data)
    m = doc["phases"]["measured"]
    agreement = m["ok_rate"] / wrk["ok_rate"] if wrk["ok_rate"] else 0.0
    svc = m["histograms"]["service"]
    verdict = (
        "agrees with wrk"
        if agreement >= min_agreement
        else f"generator-limited: the harness reaches {agreement:.0%} of wrk's rate"
    )
    return {
        "ok": agreement >= min_agreement and doc["verdict"]["status"] != "INVALID",
        "verdict": verdict,
        "agreement": round(agreement, 3),
        "min_agreement": min_agreement,
        "connections": connections,
        "seconds": cfg.duration_s,
        "wrk": {
            "rate": round(wrk["rate"], 1),
            "ok_rate": round(wrk["ok_rate"], 1),
            "latency_us": wrk["latency_us"],
            "errors": wrk["errors"],
            "argv": wrk["argv"],
        },
        "harness": {
            "rate": round(m["rate"], 1),
            "ok_rate": round(m["ok_rate"], 1),
            "service_us": {k: svc[k] for k in ("min", "mean", "p50", "p90", "p99", "p99_9", "max")},
            "verdict": doc["verdict"]["status"],
            "generator_cpu": next(
                (c["detail"] for c in doc["verdict"]["checks"] if c["name"] == "generator_cpu"),
                None,
            ),
        },
    }


def crosscheck_command(args: argparse.Namespace) -> int:
    from load_tests.cli import run_config

    args.mode, args.rate, args.steps, args.warmup = "closed", None, None, 1.0
    args.drain, args.metrics_url, args.generator_stall = 5.0, None, None
    args.connections = max(1, args.connections // max(1, args.procs))
    cfg = run_config(args)
    result = crosscheck(cfg, min_agreement=args.min_agreement)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if result["ok"] else int(ExitCode.INVALID_RUN)
