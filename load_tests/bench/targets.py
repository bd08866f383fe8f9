"""The targets of issues 4 and 11, each the median of per-round ratios of one run, with its range.

Issue 11 set its own goals for the same figures (its table: single hit 0.70 × empty, single
miss 0.65 × serial, batch hit 8 × raw, batch miss 0.75 × raw, the open loop's p99 at 75 % of
the maximum, 2 workers 1.8 ×); they are listed beside issue 4's, marked "(issue 11)".

A target whose ratio is marked (its rounds spread too far, or the limits moved under it:
``ratios.Bounds``) is shown but not counted as met or missed (``met`` is None); so is one
that was not measured. Limits: ``limits.LimitKind``; each ratio pairs a round's measurement
with the limit at that moment (``ratios.against``) or with its counterpart in the same block
(``ratios.paired``). The peers are in-process rounds of their own (``micro.measure``); the
open-loop latency target reads the point at 50 % of the maximum (``openloop``, once a round):
its ratio is the point's p99 over 5 ms (of all its rounds' latencies together, version 7;
before, the median of the rounds'), and it is marked as the point is (too few latencies or
the rounds spread, the limits moved, or a round's verdict says the gateway or the generator
did not keep up). Issue 11's latency targets read the same way, the p99 over 10 ms: a cached single
code beside batches of 1,000 new codes on 1 worker (``latency.StallFigure``; marked too when a
round's single codes were answered wrong), and a ``status`` message's acknowledgement on 2
busy workers, ``lease_invalidation`` off and on (``latency.AckFigure``; marked too when the hub
refused a message). A document without them (version 3 or 4) shows them "not measured".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from load_tests.bench.document import Micro, Rates, TargetRecord
from load_tests.bench.figures import View
from load_tests.bench.limits import QUIET, LimitKind
from load_tests.bench.ratios import Ratio, against, paired
from load_tests.machine import Quiet

ISSUE_11 = (  # (scenario, limit, goal, codes per second rather than requests)
    ("single code, cache hit", LimitKind.EMPTY, 0.7, False),
    ("single code, cache miss", LimitKind.SERIAL, 0.65, False),
    ("batch of 100, cache hit", LimitKind.RAW, 8.0, True),
    ("batch of 100, cache miss", LimitKind.RAW, 0.75, True),
)
LATENCY_GOAL_US = 10_000.0  # issue 11: a cached single code beside batches, an acknowledgement
STALL_TARGET = "cached single p99 beside 1,000-code miss batches ≤ 10 ms"


def ack_target(leases: bool) -> str:
    return ("status / revoke acknowledgement p99 ≤ 10 ms, 2 workers busy, lease_invalidation "
            + ("on" if leases else "off"))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    limit: str  # what the figure is divided by
    value: float | None  # the measured figure (median over rounds)
    limit_value: float | None  # the limit's median over the run
    goal: float
    ratio: Ratio | None
    marks: tuple[str, ...] = ()  # why it is not counted
    higher: bool = True  # met at or above the goal (else at or below)
    disturbed: bool = False
    restates: bool = False  # issue 11's goal for a ratio an issue 4 target has already

    @property
    def met(self) -> bool | None:
        """Met or missed; None when not measured or not to be trusted."""
        if self.ratio is None or self.marks:
            return None
        r = self.ratio.median
        return r >= self.goal if self.higher else r <= self.goal

    @property
    def margin(self) -> float | None:
        return None if self.ratio is None else self.ratio.median / self.goal - 1


def targets(view: View, micro: Micro | None, micro_quiet: Quiet | None = None) -> list[Target]:
    rounds, limits, bounds = view.rounds, view.limits, view.bounds
    out: list[Target] = []

    def add(name: str, limit: str, value: float | None, limit_value: float | None,
            goal: float, ratio: Ratio | None, higher: bool = True,
            also: tuple[str, ...] = (), restates: bool = False) -> None:  # fmt: skip
        marks = (*ratio.marks(bounds), *also) if ratio is not None else ()
        disturbed = ratio is not None and ratio.disturbed
        out.append(Target(name, limit, value, limit_value, goal, ratio, marks, higher, disturbed,
                          restates))  # fmt: skip

    def gateway(name: str, scenario: str, kind: LimitKind, goal: float, *, codes: bool,
                restates: bool = False) -> None:  # fmt: skip
        samples = rounds.of("1", scenario)
        text = {LimitKind.EMPTY: "empty handler req/s", LimitKind.RAW: "raw verify /s (corpus mix)",
                LimitKind.SERIAL: "1/(1/empty + 1/raw) req/s"}[kind]  # fmt: skip
        if not samples:
            add(name, text, None, None, goal, None, restates=restates)
            return
        ratio = against(samples, limits, kind, codes=codes)
        fig = view.figure("1", scenario)
        assert fig is not None
        add(name, text, fig.codes_rate if codes else fig.ok_rate,
            limits.summary(kind).median, goal, ratio, restates=restates)  # fmt: skip

    gateway("single code, cache hit ≥ 0.6 × empty handler", "single code, cache hit",
            LimitKind.EMPTY, 0.6, codes=False)  # fmt: skip
    gateway("single code, cache miss ≥ 0.8 × 1/(1/empty + 1/raw)", "single code, cache miss",
            LimitKind.SERIAL, 0.8, codes=False)  # fmt: skip
    gateway("batch of 100, cache miss ≥ 0.85 × raw verify", "batch of 100, cache miss",
            LimitKind.RAW, 0.85, codes=True)  # fmt: skip
    gateway("batch of 100, cache hit ≥ 5 × raw verify", "batch of 100, cache hit",
            LimitKind.RAW, 5.0, codes=True)  # fmt: skip
    for scenario, kind, goal, codes in ISSUE_11:
        what = {LimitKind.EMPTY: "empty handler", LimitKind.RAW: "raw verify",
                LimitKind.SERIAL: "1/(1/empty + 1/raw)"}[kind]  # fmt: skip
        gateway(f"{scenario} ≥ {goal:g} × {what} (issue 11)", scenario, kind, goal, codes=codes,
                restates=True)  # fmt: skip

    def latency(name: str, p99: Ratio | None, goal_us: float, also: tuple[str, ...]) -> None:
        if p99 is None:
            add(name, f"{goal_us / 1000:g} ms", None, None, 1.0, None, higher=False)
            return
        ratio = p99.divided(goal_us)  # pooled or the median of the rounds, as the figure
        add(name, f"{goal_us / 1000:g} ms", p99.median / 1000, goal_us / 1000, 1.0, ratio,
            higher=False, also=also)  # fmt: skip

    for fraction, tag in ((0.5, ""), (0.75, " (issue 11)")):
        for point in view.open_loop():
            if point.subject == "1" and point.fraction == fraction:
                name = f"open loop at {fraction * 100:.0f} % of max ({point.scenario})"
                latency(f"{name}: p99 ≤ 5 ms{tag}", point.p99, 5_000.0, point.verdict_marks())
    if micro and micro.get("peers"):
        quiet = micro_quiet is not None and float(micro_quiet["busy_before"]) > QUIET
        for alg, goal in (("ES256", 1.15), ("Ed25519", 1.5)):
            peers = micro["peers"][alg]
            name, peer = fastest_peer(peers)
            ours = peers["hcgw core (HCM/1)"]
            per_round = tuple(a / b for a, b in zip(ours["per_round"], peer["per_round"],
                                                    strict=True))  # fmt: skip
            ratio = Ratio(per_round, disturbed_rounds=(quiet,) * len(per_round))
            add(f"our core ≥ {goal} × fastest peer, {alg}", f"{name} verifications/s",
                ours["median"], peer["median"], goal, ratio)  # fmt: skip
    two, one = (view.figure(k, "batch of 100, cache miss") for k in ("2", "1"))
    both = None
    if two is not None and one is not None:
        both = paired(rounds.of("2", two.scenario), rounds.of("1", one.scenario), limits)
    figures = (two.codes_rate if two else None, one.codes_rate if one else None)
    for goal, tag in ((1.7, ""), (1.8, " (issue 11)")):
        add(f"2 workers ≥ {goal} × 1 worker, batch cache miss{tag}", "1 worker codes/s",
            *figures, goal, both, restates=bool(tag))  # fmt: skip
    stalled = next((f for f in view.stall() if f.subject == "1"), None)
    latency(STALL_TARGET, stalled.p99 if stalled else None, LATENCY_GOAL_US,
            stalled.error_marks() if stalled else ())  # fmt: skip
    acked = {f.leases: f for f in view.acks() if f.workers == 2}
    for leases in (False, True):
        f = acked.get(leases)
        latency(ack_target(leases), f.p99 if f else None, LATENCY_GOAL_US,
                f.refusal_marks() if f else ())  # fmt: skip
    return out


def fastest_peer(peers: Mapping[str, Rates]) -> tuple[str, Rates]:
    """The peer with the highest median rate (ours excluded)."""
    return max(((n, f) for n, f in peers.items() if not n.startswith("hcgw")),
               key=lambda x: float(x[1]["median"]))  # fmt: skip


def target_json(t: Target) -> TargetRecord:
    r = t.ratio
    return {
        "target": t.name, "limit": t.limit, "value": t.value, "limit_value": t.limit_value,
        "goal": t.goal, "ratio": None if r is None else r.median,
        "low": None if r is None else r.low, "high": None if r is None else r.high,
        "per_round": None if r is None else list(r.per_round),
        "drift": None if r is None else r.drift, "met": t.met, "marks": list(t.marks),
        "margin": t.margin, "disturbed": t.disturbed,
    }  # fmt: skip
