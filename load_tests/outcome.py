"""What a run was and how it ended, in the words the table and the figure share.

``headline``: the verdict with the exit code and what the code means, so a run that failed
``--max-p99`` never reads as merely ``VALID``. ``configuration``: mode, target, traffic and plan
in one line. ``provenance``: when, which commit, which tool version.
"""

from __future__ import annotations

from load_tests.records import ConfigRecord, Report
from load_tests.units import rate

MEANINGS = {
    0: "passed",
    3: "not valid, figures not to be quoted",
    4: "error rate over --max-error-rate",
    5: "latency over --max-p99",
    6: "rate under --min-rate",
}


def headline(report: Report) -> str:
    code = report["exit_code"]
    return f"verdict: {report['verdict']['status']} · exit {code}: {MEANINGS.get(code, '?')}"


def plan(cfg: ConfigRecord) -> str:
    if cfg["mode"] != "open":
        return f"as fast as {cfg['connections_per_proc']} connections per process allow"
    steps = ", ".join(f"{rate(s['rate'])} for {s['seconds']:g} s" for s in cfg["steps"])
    arrival = "Poisson arrivals, " if cfg.get("arrival") == "poisson" else ""
    return f"{arrival}{steps} after {cfg['warmup_s']} s of warm-up"


def traffic(cfg: ConfigRecord) -> str:
    shape = f"batches of {cfg['batch']}" if cfg["batch"] else "single codes"
    r = cfg["repeat"]
    if r["fresh"]:
        draws = "fresh codes"
    else:
        draws = f"Zipf s={r['zipf_s']:g}" + (
            f" over {r['population']:,}" if r["population"] else ""
        )
    skip = f", skip {r['skip']:,}" if r["skip"] else ""
    return f"{shape} ({cfg['encoding']}), {draws}{skip}"


def configuration(cfg: ConfigRecord) -> str:
    procs = cfg["procs"]
    return (
        f"{cfg['mode']} loop · {procs} process{'es' if procs > 1 else ''} × "
        f"{cfg['connections_per_proc']} connections → {cfg['url']}{cfg['path']} · "
        f"{traffic(cfg)} · {plan(cfg)}"
    )


def provenance(report: Report) -> str:
    commit = report["host"].get("git") or "commit unknown"
    started = report["started_at"][:19].replace("T", " ")
    return f"{started} UTC · git {commit} · hcgw-load {report['tool']['version']}"
