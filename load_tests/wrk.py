"""Driving ``wrk`` (Debian's wrk 4.1) with our bodies, and reading its summary as JSON.

wrk has no machine-readable output; its maintainers point to a Lua ``done()`` hook (wg/wrk#313),
so our script prints one ``WRKJSON {...}`` line. Bodies are written to one file with their
lengths beside it, so binary msgpack bodies pass untouched; thread ``k`` of ``T`` sends bodies
``k, k+T, …`` (like our generator processes), so a body list of unique codes stays unique.
wrk is a closed loop: its latencies are service times (wrk's own coordinated-omission
correction is approximate), so compare them with the harness's *service* histogram.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

_SCRIPT = """
local data_file, lens_file = "%(data)s", "%(lens)s"
local f = assert(io.open(data_file, "rb"))
local data = f:read("*a")
f:close()
local bodies, pos = {}, 1
for len in io.lines(lens_file) do
  local n = tonumber(len)
  bodies[#bodies + 1] = data:sub(pos, pos + n - 1)
  pos = pos + n
end
local threads, counter = %(threads)d, 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local i, requests = nil, nil
wrk.method = "POST"
wrk.headers["Content-Type"] = "%(ctype)s"
wrk.headers["Accept"] = "application/json"
%(auth)s
function init(args)
  -- Format every request once: wrk.format per request costs wrk a third of its rate.
  requests = {}
  for n, body in ipairs(bodies) do requests[n] = wrk.format(nil, "%(path)s", nil, body) end
  bodies = nil
end
request = function()
  if i == nil then i = tid or 0 else i = (i + threads) %% #requests end
  return requests[i + 1]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"latency_us":{"min":%%d,"mean":%%.1f,"p50":%%d,"p90":%%d,"p99":%%d,"p99_9":%%d,"max":%%d}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""


class WrkErrors(TypedDict):
    connect: int
    read: int
    write: int
    status: int  # answers other than 2xx/3xx
    timeout: int


def failures(e: WrkErrors) -> int:
    """Every error wrk counted: sockets, answers other than 2xx/3xx, timeouts."""
    return e["connect"] + e["read"] + e["write"] + e["status"] + e["timeout"]


class WrkLatency(TypedDict):
    """µs; service times (wrk is a closed loop)."""

    min: int
    mean: float
    p50: int
    p90: int
    p99: int
    p99_9: int
    max: int


class WrkRun(TypedDict):
    """wrk's summary (the ``done()`` hook's JSON) with the rates and the command line."""

    requests: int
    duration_us: int
    bytes: int
    errors: WrkErrors
    latency_us: WrkLatency
    rate: float  # requests/s
    ok_rate: float  # requests/s less errors
    argv: list[str]


class WrkMissing(RuntimeError):
    """wrk is not installed (Debian: apt-get install -y wrk)."""


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    path: str,
    bodies: Sequence[bytes],
    content_type: str,
    *,
    token: str | None,
    seconds: float,
    connections: int,
    workdir: Path,
    threads: int = 1,
    cpus: Sequence[int] = (),
    timeout_s: float = 10.0,
) -> WrkRun:
    """Run wrk once; its summary plus ``rate`` (requests/s) and ``ok_rate``."""
    if not available():
        raise WrkMissing("wrk is not installed: apt-get install -y wrk")
    workdir.mkdir(parents=True, exist_ok=True)
    data, lens = workdir / "wrk-bodies.bin", workdir / "wrk-bodies.len"
    data.write_bytes(b"".join(bodies))
    lens.write_text("".join(f"{len(b)}\n" for b in bodies))
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    script = workdir / "wrk-script.lua"
    script.write_text(
        _SCRIPT
        % {
            "data": data,
            "lens": lens,
            "threads": threads,
            "ctype": content_type,
            "auth": auth,
            "path": path,
        }
    )
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{max(connections, threads)}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "-s",
        str(script),
        url,
    ]
    if cpus:
        argv = ["taskset", "-c", ",".join(map(str, cpus)), *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({done.returncode}): {done.stderr[-2000:]}{done.stdout[-2000:]}"
        )
    summary = json.loads(line.removeprefix("WRKJSON "))
    errors: WrkErrors = summary["errors"]
    requests: int = summary["requests"]
    duration = summary["duration_us"] / 1e6
    failed = errors["status"] + errors["timeout"] + errors["read"]
    return {
        "requests": requests,
        "duration_us": summary["duration_us"],
        "bytes": summary["bytes"],
        "errors": errors,
        "latency_us": summary["latency_us"],
        "rate": requests / duration if duration else 0.0,
        "ok_rate": max(0, requests - failed) / duration if duration else 0.0,
        "argv": argv,
    }
