"""How much CPU *others* used while we measured: the machine's, less this process tree's.

The wait for a quiet machine (``machine.wait_for_quiet``) sees the second before a
measurement; a neighbour's test suite that starts during it goes unseen, and takes CPU from
the gateway, wrk or Redis in the middle of a figure. So every measurement also reads the
process CPU time (user + nice + system in ``/proc/stat``) of the whole machine and of every
process descended from this one (the servers, their workers, Redis, wrk once reaped), before
and after; the difference is others' share of all cores. It leaves out interrupt time (the
loopback traffic's softirqs are ours, and no process is charged for them). A process of
others that ends during the interval is missed in part: a lower bound, good enough to
notice a neighbour.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[int, int]:
    """(user + nice + system, all) jiffies over all cores since boot."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return fields[0] + fields[1] + fields[2], sum(fields)


def _tree(root: int) -> dict[int, int]:
    """utime + stime (jiffies) of ``root`` and of every live process descended from it."""
    parent, ticks = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
    ours: dict[int, int] = {}
    for pid in ticks:
        p, seen = pid, 0
        while p > 1 and seen < 64:
            if p == root:
                ours[pid] = ticks[pid]
                break
            p, seen = parent.get(p, 0), seen + 1
    return ours


def _reaped() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * _TICK


class Others:
    """Started before a measurement; ``share()`` after it: others' CPU over all cores."""

    def __init__(self) -> None:
        self._root = os.getpid()
        self._tree = _tree(self._root)
        self._reaped = _reaped()
        self._machine = _machine()

    def share(self) -> float:
        busy, total = _machine()
        tree = _tree(self._root)
        ours = float(sum(t - self._tree.get(pid, 0) for pid, t in tree.items()))
        ours += _reaped() - self._reaped  # wrk, and whatever else of ours ended meanwhile
        d_total = total - self._machine[1]
        if d_total <= 0:
            return 0.0
        return round(max(0.0, (busy - self._machine[0]) - ours) / d_total, 3)
