"""A batch does not stall its worker (issue 11, item 7): cached single codes beside big batches.

On one worker, wrk keeps ``CONNECTIONS`` connections sending batches of ``BATCH`` codes new
to the hub (the miss runs' corpus slices), so the worker always has a batch's signatures to
check; beside them one connection of this process (``latency.Beside``) sends the cached codes
of the hit population one at a time at a fixed ``PROBE_RATE``, each at its intended send
time (or at once when the last answer came later: latency counts from the intended time, so a
stall of the worker counts in every probe it delays, as in the open-loop points). Each answer
is checked (200, the corpus' ``valid`` and colour). A round's figure is the single codes' p50,
p99 and p99.9 over its measured time, after ``RAMP_S`` of batches alone, and every latency
(``latency_hist``); the run's are read from all the rounds' latencies together
(``StallFigure``, ``latency.pooled``), marked like an open-loop point's. The target, "cached
single p99 beside 1,000-code miss batches ≤ 10 ms", reads that p99.

The in-process measurement of the same effect, without HTTP, is ``load_tests/perf/hotpath.py
stall`` (docs/caching.md).
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from load_tests.bench import hub
from load_tests.bench.latency import Beside, histoblob, percentiles
from load_tests.bench.rounds import StallSlot
from load_tests.bench.samples import StallSample
from load_tests.corpus import Corpus, CorpusCode
from load_tests.wrk import failures

BATCH = 1_000  # codes per batch: SPEC §5's most
CONNECTIONS = 4  # wrk's, each with a batch in flight: the worker never waits for the next
PROBE_RATE = 200.0  # cached single codes a second, on one connection
RAMP_S = 0.5  # batches alone before the first probe (wrk reads its bodies, ~17 MB, first)
TAIL_S = 0.2  # the last probe this long before wrk's end


@dataclass
class Probes:
    latency: list[float]  # seconds from the intended send time to the answer's last byte
    service: list[float]  # seconds from the actual send
    wrong: int = 0  # answers other than 200 with the corpus' verdict


def probe(url: str, token: str, codes: Sequence[CorpusCode], rate: float, seconds: float) -> Probes:
    """``codes`` in turn at ``rate`` a second on one keep-alive connection, from ``RAMP_S``
    after the call to ``TAIL_S`` before ``seconds`` after it."""
    conn = _connection(url)
    headers = {"Content-Type": "application/msgpack", "Accept": "application/json",
               "Authorization": f"Bearer {token}"}  # fmt: skip
    began = time.perf_counter()
    first, until = began + RAMP_S, began + seconds - TAIL_S
    out = Probes([], [])
    try:
        n = 0
        while (intended := first + n / rate) < until:
            wait = intended - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            code = codes[n % len(codes)]
            sent = time.perf_counter()
            try:
                conn.request("POST", "/v1/verify", body=code.code, headers=headers)
                answer = conn.getresponse()
                ok = answer.status == 200 and _as_expected(answer.read(), code)
            except (http.client.HTTPException, OSError):
                ok = False  # counted, and timed like any answer; the next goes on a new one
                conn.close()
                conn = _connection(url)
            done = time.perf_counter()
            out.latency.append(done - intended)
            out.service.append(done - sent)
            out.wrong += not ok
            n += 1
    finally:
        conn.close()
    return out


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def _as_expected(body: bytes, code: CorpusCode) -> bool:
    try:
        verdict = json.loads(body)
    except ValueError:
        return False
    return (isinstance(verdict, dict) and verdict.get("valid") is code.expect.valid
            and verdict.get("colour") == code.expect.colour)  # fmt: skip


def measure(
    slot: StallSlot,
    url: str,
    corpus: Corpus,
    slices: hub.Slices,
    *,
    seconds: float,
    budget: int,
    workdir: Path,
    max_wait_s: float,
    zero: float,
) -> StallSample:
    """One round's stall measurement on the gateway at ``url`` (its Redis' ``slices``);
    ``budget`` new codes for the batches (what wrk did not send goes back)."""
    population = [corpus.codes[i] for i in slices.valid[: hub.HIT_POPULATION]]
    beside = Beside(lambda: probe(url, corpus.token, population, PROBE_RATE, seconds))
    fig = hub.max_rate(url, corpus, slices, batch=BATCH, traffic="miss", seconds=seconds,
                       connections=CONNECTIONS, budget=budget, workdir=workdir / "wrk-stall",
                       during=beside.start, max_wait_s=max_wait_s)  # fmt: skip
    probes = beside.result()
    return StallSample(
        round=slot.round,
        block=slot.block,
        subject=slot.subject,
        batch=BATCH,
        connections=CONNECTIONS,
        codes_rate=float(fig["codes_rate"]),
        probe_rate=PROBE_RATE,
        probes=len(probes.latency),
        latency_us=percentiles(probes.latency, ("p50", "p90", "p99", "p99_9", "max")),
        latency_hist=histoblob(probes.latency),
        service_us=percentiles(probes.service, ("p50", "p99", "max")),
        probe_errors=probes.wrong,
        errors=failures(fig["errors"]),
        wrapped=bool(fig["wrapped"]),
        **hub.around(fig, zero),
    )
