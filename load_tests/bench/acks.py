"""The write side stays honest (issue 11, item 2): a ``status`` message's time to its 2xx, busy.

The method of ``load_tests/perf/acks.py`` in the rounds: while wrk keeps a deployment's
workers at their maximum with cached single codes on ``CONNECTIONS`` connections (the hit
population, cached since the warm-up; a C client, so the workers are saturated, where the
script's Python client left them part idle), one connection of this process
(``latency.Beside``) sends ``status`` messages one after another (``perf.acks.send_statuses``),
signed with the upload key of the corpus' first issuer (its keystore, docs/corpus.md), from
the hub's mark on, one event each for a subject no code carries, so the verifications'
answers do not change. Each message's time to its 2xx is kept, from ``RAMP_S`` after wrk
started to ``TAIL_S`` before it ends. The deployments: 1 and 2 workers with
``lease_invalidation`` on (the default; the rounds' "1" and "2") and off (``-noleases``, on a
Redis of their own, measured here only; ``-leases`` in documents of version 5, when off was the
default). ``key.revoke`` takes the same path to its 2xx (its
invalidation is announced and confirmed as a status's is: gateway/store/registry.py), so the
target reads "status / revoke".

With leases a write is acknowledged once every worker holding a live lease has confirmed its
invalidation, or that worker's lease has run out: the worst case is the lease time, 1 s
(docs/caching.md), which no busy load reaches unless a worker stops.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from load_tests.bench import hub
from load_tests.bench.latency import Beside, histoblob, percentiles
from load_tests.bench.rounds import AckSlot
from load_tests.bench.samples import AckSample
from load_tests.corpus import Corpus
from load_tests.perf.acks import Acks, Signer, send_statuses
from load_tests.wrk import failures

CONNECTIONS = 16  # wrk's, verifying cached codes meanwhile (perf/acks.py's 16)
RAMP_S = 0.3  # wrk alone before the first message
TAIL_S = 0.2  # the last message sent no later than this before wrk's end


def corpus_signer(corpus: Corpus) -> Signer:
    """The upload key of the corpus' first issuer (``keystore/keystore.json``)."""
    store = json.loads((corpus.path / "keystore" / "keystore.json").read_text("utf-8"))
    first = store["issuers"][0]
    return Signer.from_pem(str(first["iss"]), str(first["upload_key"]).encode())


def acknowledge(url: str, signer: Signer, seconds: float) -> Acks:
    """Messages one after another from ``RAMP_S`` to ``TAIL_S`` before ``seconds`` from now."""
    began = time.perf_counter()
    time.sleep(RAMP_S)
    return send_statuses(url, signer, until=began + seconds - TAIL_S)


def measure(
    slot: AckSlot,
    url: str,
    corpus: Corpus,
    slices: hub.Slices,
    signer: Signer,
    *,
    workers: int,
    leases: bool,
    seconds: float,
    workdir: Path,
    max_wait_s: float,
    zero: float,
) -> AckSample:
    """One round's acknowledgement measurement on the gateway at ``url``."""
    beside = Beside(lambda: acknowledge(url, signer, seconds))
    fig = hub.max_rate(url, corpus, slices, batch=0, traffic="hit", seconds=seconds,
                       connections=CONNECTIONS, budget=0, workdir=workdir / "wrk-acks",
                       during=beside.start, max_wait_s=max_wait_s)  # fmt: skip
    acks = beside.result()
    return AckSample(
        round=slot.round,
        block=slot.block,
        subject=slot.subject,
        workers=workers,
        leases=leases,
        connections=CONNECTIONS,
        messages=len(acks.latencies),
        latency_us=percentiles(acks.latencies, ("p50", "p90", "p99", "max")),
        latency_hist=histoblob(acks.latencies),
        verify_rate=float(fig["ok_rate"]),
        refused=acks.refused,
        errors=failures(fig["errors"]),
        **hub.around(fig, zero),
    )
