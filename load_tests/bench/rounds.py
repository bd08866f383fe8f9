"""The order of a bench run's measurements: short rounds, limits between the gateway's blocks.

The speed of a shared or virtual machine drifts by minutes (the empty-handler limit read
10.7k–20.5k req/s within a few minutes on an idle development machine), so a ratio is only
as good as the closeness in time of its numerator and its denominator. A run is therefore a
few short *rounds*; a round is one *block* per scenario, and a block measures that scenario on
every subject (a deployment of one build) one after the other, right after a *limit slot*
(the empty handler under wrk and the raw signature rate). One more limit slot closes the run,
so every gateway measurement lies between two limit slots a block apart.

Open-loop points (a scenario on a subject at a fraction of its maximum) are one more block at
the end of every round, opened by a limit slot like the others: each point's rate is a fraction
of the maximum the same round measured, and a point is measured once a round like any figure.
The latency measurements of issue 11 close that block, in the same way once a round: a cached
single code's latency beside batches of new codes (``StallSlot``, ``stall``) and a ``status``
message's time to its 2xx on busy workers (``AckSlot``, ``acks``). They need no limit slot of
their own (their figures are latencies, not ratios to a limit), but lie between two like every
measurement, so a move of the machine's speed around one marks it.

Round ``r`` rotates both orders by ``r``: each scenario and each subject takes every position
in turn (first after the limits, last before the next, before or after its counterpart), so
no figure always gets the fresh or the tired end of a block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LimitSlot:
    """The limits, measured before block ``block`` of round ``round`` (or to close the run)."""

    round: int
    block: int


@dataclass(frozen=True, slots=True)
class GatewaySlot:
    """One scenario on one subject (a deployment of a build), under wrk."""

    round: int
    block: int
    subject: str
    scenario: str


@dataclass(frozen=True, slots=True)
class OpenLoopSlot:
    """The harness at a constant rate, ``fraction`` of the maximum this round measured for
    ``scenario`` on ``subject``."""

    round: int
    block: int
    subject: str
    scenario: str
    fraction: float


@dataclass(frozen=True, slots=True)
class OpenLoopPoint:
    """What ``schedule`` is asked to put in every round's open-loop block."""

    subject: str
    scenario: str
    fraction: float


@dataclass(frozen=True, slots=True)
class StallSlot:
    """Cached single codes at a fixed rate on ``subject`` while batches of new codes keep it
    busy (``stall``)."""

    round: int
    block: int
    subject: str


@dataclass(frozen=True, slots=True)
class AckSlot:
    """``status`` messages one after another to ``subject`` while verifications keep its
    workers busy (``acks``)."""

    round: int
    block: int
    subject: str


Slot = LimitSlot | GatewaySlot | OpenLoopSlot | StallSlot | AckSlot


def rotate(items: Sequence[T], by: int) -> list[T]:
    """``items`` starting from index ``by`` (modulo their number), wrapping round."""
    if not items:
        return []
    k = by % len(items)
    return [*items[k:], *items[:k]]


def schedule(
    subjects: Sequence[str | Sequence[str]],
    scenarios: Sequence[str],
    rounds: int,
    open_loop: Sequence[OpenLoopPoint] = (),
    stall: Sequence[str] = (),
    acks: Sequence[str] = (),
) -> list[Slot]:
    """Every slot of a run, in order: ``rounds`` rounds of one block per scenario (and a last
    one of the ``open_loop`` points, then a stall measurement on each subject of ``stall``,
    then an acknowledgement measurement on each of ``acks``, each kind's order rotating too),
    each block opened by a limit slot, and a last limit slot closing the run. A subject given
    as a group (``("1", "1@base")``: one deployment of two builds) is measured back to back,
    the group's own order rotating too, so a comparison's two sides are seconds apart and take
    turns."""
    groups = [(g,) if isinstance(g, str) else tuple(g) for g in subjects]
    if rounds < 1 or not groups or not all(groups) or not scenarios:
        raise ValueError("a run needs at least one round, one subject and one scenario")
    out: list[Slot] = []
    block = 0
    for r in range(rounds):
        for scenario in rotate(scenarios, r):
            out.append(LimitSlot(r, block))
            out += [GatewaySlot(r, block, s, scenario)
                    for group in rotate(groups, r) for s in rotate(group, r)]  # fmt: skip
            block += 1
        if open_loop or stall or acks:
            out.append(LimitSlot(r, block))
            out += [OpenLoopSlot(r, block, p.subject, p.scenario, p.fraction)
                    for p in rotate(open_loop, r)]  # fmt: skip
            out += [StallSlot(r, block, s) for s in rotate(stall, r)]
            out += [AckSlot(r, block, s) for s in rotate(acks, r)]
            block += 1
    out.append(LimitSlot(rounds, block))
    return out
