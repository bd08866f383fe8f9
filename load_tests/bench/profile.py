"""Where the gateway's CPU goes during a run: py-spy's raw (collapsed) stacks, summarised.

``py-spy record --subprocesses -f raw`` samples every worker; each line is a stack and a sample
count. The summary is the share of samples per innermost frame (self time) and per frame
anywhere on the stack (inclusive), the way a flame graph reads.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path

from load_tests.bench.document import Profile


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = py_spy()
    if exe is None:
        return None
    return subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--subprocesses", "--rate", "200", "--nonblocking",
         "--duration", str(max(1, round(seconds))), "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summarise(path: Path, top: int = 12) -> Profile | None:
    if not path.exists():
        return None
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += n
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    if not total:
        return None
    return {
        "samples": total,
        "self": [(f, round(n / total, 4)) for f, n in self_time.most_common(top)],
        "inclusive": [(f, round(n / total, 4)) for f, n in inclusive.most_common(top * 2)],
    }


def _short(frame: str) -> str:
    # "verify (gateway/service/verification.py:95)" → keep the function and the file's tail.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name
