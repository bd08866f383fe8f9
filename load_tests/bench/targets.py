"""The targets of issue 4, each computed from figures of the same run, with its ratio and margin.

Limits: ``empty`` is the empty aiohttp handler's rate under wrk; ``raw`` is the raw signature
rate of the library call the gateway makes (libsodium for Ed25519, OpenSSL for ES256), mixed in
the proportions of the corpus' valid codes (each verification costs ``share / rate``).
"""

from __future__ import annotations

from typing import Any

RAW_CALL = {"Ed25519": "Ed25519/libsodium", "ES256": "ES256/cryptography"}
QUIET = 0.15  # the machine's CPU use before a measurement above this: others were busy


def disturbed(*figs: dict[str, Any] | None) -> bool:
    """Whether any figure was measured while the machine was busy with others' work."""
    return any(f is not None and float(f.get("busy_before", 0.0)) > QUIET for f in figs)


def raw_mix(doc: dict[str, Any]) -> float:
    raw = doc["micro"]["raw"]
    shares = doc["corpus"]["valid_algs"]
    return 1 / sum(
        float(share) / float(raw[RAW_CALL[alg]]["best"]) for alg, share in shares.items()
    )


def fastest_peer(peers: dict[str, Any]) -> tuple[str, float]:
    name, fig = max(
        ((n, f) for n, f in peers.items() if not n.startswith("hcgw")), key=lambda x: x[1]["best"]
    )
    return name, float(fig["best"])


def targets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    empty = float(doc["empty"]["rate"])
    raw = raw_mix(doc)
    one = doc["gateway"].get("1", {}).get("scenarios", {})
    out: list[dict[str, Any]] = []

    def add(name: str, limit_text: str, value: float | None, limit: float, goal: float,
            higher: bool = True, *figs: dict[str, Any] | None) -> None:  # fmt: skip
        ratio = None if value is None or not limit else value / limit
        met = ratio is not None and (ratio >= goal if higher else ratio <= goal)
        out.append({"target": name, "limit": limit_text, "value": value, "limit_value": limit,
                    "ratio": ratio, "goal": goal, "met": met,
                    "margin": None if ratio is None else ratio / goal - 1,
                    "disturbed": disturbed(doc["empty"], *figs)})  # fmt: skip

    def rate(scenario: str, codes: bool = False) -> float | None:
        fig = one.get(scenario)
        if fig is None:
            return None
        return float(fig["codes_rate" if codes else "ok_rate"])

    add(
        "single code, cache hit ≥ 0.6 × empty handler",
        "empty handler req/s",
        rate("single code, cache hit"),
        empty,
        0.6,
        True,
        one.get("single code, cache hit"),
    )
    add(
        "single code, cache miss ≥ 0.8 × 1/(1/empty + 1/raw)",
        "1/(1/empty + 1/raw) req/s",
        rate("single code, cache miss"),
        1 / (1 / empty + 1 / raw),
        0.8,
        True,
        one.get("single code, cache miss"),
    )
    add(
        "batch of 100, cache miss ≥ 0.85 × raw verify",
        "raw verify /s (corpus mix)",
        rate("batch of 100, cache miss", codes=True),
        raw,
        0.85,
        True,
        one.get("batch of 100, cache miss"),
    )
    add("batch of 100, cache hit ≥ 5 × raw verify", "raw verify /s (corpus mix)",
        rate("batch of 100, cache hit", codes=True), raw, 5.0, True,
        one.get("batch of 100, cache hit"))  # fmt: skip
    for point in doc["gateway"].get("1", {}).get("open_loop", []):
        if point["fraction"] == 0.5:
            p99 = point["latency_us"]["p99"]
            add(f"open loop at 50 % of max ({point['traffic']}): p99 ≤ 5 ms", "5 ms",
                None if p99 is None else p99 / 1000, 5.0, 1.0, False, point)  # fmt: skip
            out[-1]["verdict"] = point["verdict"]
    for alg, goal in (("ES256", 1.15), ("Ed25519", 1.5)):
        peers = doc["micro"]["peers"][alg]
        name, best = fastest_peer(peers)
        add(f"our core ≥ {goal} × fastest peer, {alg}", f"{name} verifications/s",
            float(peers["hcgw core (HCM/1)"]["best"]), best, goal, True,
            doc.get("micro_quiet"))  # fmt: skip
    two = doc["gateway"].get("2", {}).get("scenarios", {}).get("batch of 100, cache miss")
    add("2 workers ≥ 1.7 × 1 worker, batch cache miss", "1 worker codes/s",
        None if two is None else float(two["codes_rate"]), rate("batch of 100, cache miss", True)
        or 0.0, 1.7, True, two, one.get("batch of 100, cache miss"))  # fmt: skip
    return out
