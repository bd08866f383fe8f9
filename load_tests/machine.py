"""The facts of the machine a figure was measured on, for every report and BENCHMARKS.md."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import TypedDict

from load_tests.records import Machine

ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = (
    "hcgw", "aiohttp", "uvloop", "cryptography", "pynacl", "msgpack", "redis", "hiredis",
    "hdrhistogram", "pyjwt", "joserfc", "pycose",
)  # fmt: skip


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision() -> str | None:
    if shutil.which("git") is None:
        return None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def tool_version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else None


def facts() -> Machine:
    mem_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "memory_gib": mem_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "git": git_revision(),
        "versions": versions(),
        "wrk": tool_version(["wrk", "--version"]),
    }


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


class Busyness(TypedDict):
    system_busy: float  # the machine's CPU use over the interval, a share of all cores
    loadavg_before: float


class Quiet(TypedDict):
    """What ``wait_for_quiet`` saw when it stopped waiting."""

    busy_before: float  # the machine's CPU use in the last second, a share of all cores
    waited_s: float


class Busy:
    """The machine's CPU use over an interval, as a share of all cores, and the load average:
    the context of a figure on a shared machine (ours and everybody else's work together)."""

    def __init__(self) -> None:
        self.load = os.getloadavg()[0]
        self._start = cpu_times()

    def done(self) -> Busyness:
        busy, total = cpu_times()
        d_total = total - self._start[1]
        share = (busy - self._start[0]) / d_total if d_total > 0 else 0.0
        return {"system_busy": round(share, 3), "loadavg_before": round(self.load, 2)}


def wait_for_quiet(
    max_wait_s: float, threshold: float = 0.15, window_s: float = 1.0
) -> Quiet:
    """Wait until the machine's CPU use over ``window_s`` is at most ``threshold`` of all cores
    (others' work on a shared machine), for at most ``max_wait_s``. Returns what was seen."""
    start = time.monotonic()
    while True:
        before = cpu_times()
        time.sleep(window_s)
        busy, total = cpu_times()
        share = (busy - before[0]) / (total - before[1]) if total > before[1] else 0.0
        waited = time.monotonic() - start
        if share <= threshold or waited >= max_wait_s:
            return {"busy_before": round(share, 3), "waited_s": round(waited, 1)}
