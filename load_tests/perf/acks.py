"""Acknowledgement latency of ``status`` messages while the workers are busy (issue 11, item 2).

    .venv/bin/python load_tests/perf/acks.py [--workers 1,2] [--messages 300] [--leases both|on|off]
                                             [--busy python|wrk]

Starts ``hcgw serve`` (embedded Redis, loopback) with N workers, registers a key, then keeps
the workers busy with 16 connections verifying cached codes (from another process, so that
this one measures only the hub) while one connection sends
``status`` messages one after another; prints each message's time to its 2xx (p50 / p99 /
max) and the verifications' rate, with ``lease_invalidation`` off and on. ``--busy wrk``
keeps them busy with wrk instead (16 connections, one cached code: the workers saturated, as
in the benchmark of record) where the Python client leaves them part idle.

The method, ``send_statuses`` (one keep-alive connection, each message signed before its
clock starts, the next sent when the last is answered), is also the benchmark of record's
(``load_tests.bench.acks``, with wrk as the busy load and a corpus issuer's upload key).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgpack

from gateway.core.crypto import PrivateKey, generate_private_key, private_key_from_pem, sign
from gateway.core.model import Alg, Domain
from gateway.core.wire import encode_envelope
from gateway.launch import free_port

ISS = "440000"
TOKEN = base64.urlsafe_b64encode(os.urandom(24)).decode()
MSGPACK = {"Content-Type": "application/msgpack"}
MAX_REFUSED = 10  # refusals in one run before it gives up: the messages are wrong, not slow


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def envelope(domain: Domain, key: PrivateKey, payload: dict[Any, Any]) -> bytes:
    packed = msgpack.packb(payload, use_bin_type=True)
    return encode_envelope(domain, key.public.alg, key.public.kid, packed, lambda m: sign(key, m))


@dataclass(frozen=True, slots=True)
class Signer:
    """An issuer's upload key: management messages (SPEC §4) signed with it."""

    iss: str
    key: PrivateKey

    @classmethod
    def from_pem(cls, iss: str, pem: bytes) -> Signer:
        return cls(iss, private_key_from_pem(pem))

    def message(self, payload: dict[str, Any]) -> bytes:
        base = {"iss": self.iss, "iat": int(time.time()), "nonce": os.urandom(16)}
        return envelope(Domain.ADMIN, self.key, {**base, **payload})

    def status(self, seq: int, events: list[list[Any]]) -> bytes:
        return self.message({"typ": "status", "seq": seq, "events": events})


@dataclass
class Acks:
    """What ``send_statuses`` saw: each acknowledged message's time to its 2xx, in seconds."""

    latencies: list[float] = field(default_factory=list)
    refused: int = 0  # answers other than 2xx, lost connections (then on from the hub's mark)
    last: str = ""  # the last refusal, for the error when there are too many


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def status_mark(url: str, iss: str) -> int:
    """The hub's mark for ``iss``: the last applied seq (SPEC §4, no token needed)."""
    conn = _connection(url)
    try:
        conn.request("GET", f"/v1/issuers/{iss}/status/mark")
        answer = conn.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET status/mark of {iss}: {answer.status} {body[:200]!r}")
        return int(json.loads(body)["mark"])
    finally:
        conn.close()


def send_statuses(
    url: str,
    signer: Signer,
    *,
    until: float | None = None,
    count: int | None = None,
    subjects: Sequence[bytes] = (),
) -> Acks:
    """``status`` messages of one event each, one after another on one keep-alive connection,
    from the hub's mark on, until ``time.perf_counter()`` passes ``until`` or ``count`` were
    acknowledged. Each message is signed before its clock starts: its time is the hub's, from
    the request's first byte to the answer's last. An event's subject is drawn from
    ``subjects`` (none: a new random one, a subject no code carries)."""
    if until is None and count is None:
        raise ValueError("send_statuses needs until or count")
    out = Acks()
    seq = status_mark(url, signer.iss) + 1
    conn = _connection(url)
    path = f"/v1/issuers/{signer.iss}/status"
    try:
        while (until is None or time.perf_counter() < until) and (
            count is None or len(out.latencies) < count
        ):
            sub = random.choice(subjects) if subjects else os.urandom(16)
            body = signer.status(seq, [[sub, seq % 3, seq, int(time.time())]])
            t = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=MSGPACK)
                answer = conn.getresponse()
                reply = answer.read()
            except (http.client.HTTPException, OSError) as exc:  # the next on a new connection
                conn.close()
                conn = _connection(url)
                out.refused += 1
                out.last = repr(exc)
            else:
                elapsed = time.perf_counter() - t
                if 200 <= answer.status < 300:
                    out.latencies.append(elapsed)
                    seq += 1
                    continue
                out.refused += 1
                out.last = f"{answer.status} {reply[:200]!r}"
            if out.refused > MAX_REFUSED:
                raise RuntimeError(f"status messages to {url} refused {out.refused} times, "
                                   f"the last: {out.last}")  # fmt: skip
            seq = status_mark(url, signer.iss) + 1  # stale_seq / seq_gap: go on from the mark
    finally:
        conn.close()
    return out


def config(tmp: Path, port: int, workers: int, leases: bool, upload: PrivateKey) -> Path:
    path = tmp / "hcgw.toml"
    path.write_text(
        "[gateway]\n"
        f'listen = "127.0.0.1:{port}"\n'
        f'data_dir = "{tmp}"\n'
        f'trust_key = "{tmp / "hub.pem"}"\n'
        f"workers = {workers}\n"
        f"lease_invalidation = {'true' if leases else 'false'}\n\n"
        f'[[issuer]]\niss = "{ISS}"\nname = "Guangdong"\n'
        f'upload_keys = ["{b64(upload.public.spki)}"]\n\n'
        f'[[client]]\nid = "bench"\ntoken_sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"\n'
        'scopes = ["verify"]\nrate = 1000000000\n'
    )
    return path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    url: str, upload: PrivateKey, messages: int, busy: str = "python"
) -> tuple[list[float], float]:
    now = int(time.time())
    signer = generate_private_key(Alg.ED25519)
    issuer = Signer(ISS, upload)
    subs = [os.urandom(16) for _ in range(200)]
    codes = [
        envelope(Domain.CODE, signer, {1: ISS, 2: os.urandom(16), 4: now + 3600, 6: now, 7: 0,
                                       8: 0, 9: sub})
        for sub in subs
    ]
    add = issuer.message({"typ": "key.add", "alg": "Ed25519", "spki": signer.public.spki,
                          "nbf": now - 60, "naf": now + 86_400})  # fmt: skip
    conn = _connection(url)
    try:
        conn.request("POST", f"/v1/issuers/{ISS}/keys", body=add, headers=MSGPACK)
        answer = conn.getresponse()
        assert answer.status == 201, answer.read()
    finally:
        conn.close()
    if busy == "wrk":
        return with_wrk(url, codes[0], issuer, messages, subs)
    done = multiprocessing.Value("q", 0)
    stop = multiprocessing.Event()
    load = multiprocessing.Process(target=keep_busy, args=(url, codes, stop, done))
    load.start()  # another process: this one stays idle, so it measures only the hub
    time.sleep(1.0)
    before, started = done.value, time.perf_counter()
    acks = send_statuses(url, issuer, count=messages, subjects=subs)
    elapsed = time.perf_counter() - started
    verified = done.value - before
    stop.set()
    load.join(30)
    return acks.latencies, verified / elapsed


def with_wrk(
    url: str, code: bytes, issuer: Signer, messages: int, subs: Sequence[bytes]
) -> tuple[list[float], float]:
    """The messages while wrk (16 connections) verifies one cached code as fast as the workers
    answer; the rate is wrk's over its whole run."""
    with tempfile.TemporaryDirectory() as name:
        body, lua = Path(name) / "code.bin", Path(name) / "post.lua"
        body.write_bytes(code)
        lua.write_text(
            'wrk.method = "POST"\n'
            f'local f = io.open("{body}", "rb"); wrk.body = f:read("*a"); f:close()\n'
            'wrk.headers["Content-Type"] = "application/msgpack"\n'
            f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n'
        )
        seconds = 60  # at most: stopped once the messages are acknowledged
        wrk = subprocess.Popen(["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(lua),
                                f"{url}/v1/verify"], stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            time.sleep(1.0)
            acks = send_statuses(url, issuer, count=messages, subjects=subs)
        finally:
            wrk.send_signal(signal.SIGINT)  # wrk prints its summary when interrupted
            out, _ = wrk.communicate(timeout=30)
    rate = next((float(line.split()[1]) for line in out.splitlines()
                 if line.startswith("Requests/sec:")), 0.0)  # fmt: skip
    return acks.latencies, rate


def keep_busy(url: str, codes: list[bytes], stop: Any, done: Any) -> None:
    """16 connections verifying cached codes until ``stop``, counting into ``done``."""
    headers = {"Content-Type": "application/msgpack", "Authorization": f"Bearer {TOKEN}"}

    async def one(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            async with session.post(f"{url}/v1/verify", data=random.choice(codes),
                                    headers=headers) as r:  # fmt: skip
                await r.read()
            with done.get_lock():
                done.value += 1

    async def all_of_them() -> None:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(one(session) for _ in range(16)))

    asyncio.run(all_of_them())


def run(workers: int, leases: bool, messages: int, busy: str = "python") -> None:
    upload = generate_private_key(Alg.ED25519)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        port = free_port()
        cfg = config(tmp, port, workers, leases, upload)
        ready = tmp / "ready"
        with open(tmp / "log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(cfg), "--ready-file",
                 str(ready)], stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 30
                while not ready.exists():
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((tmp / "log").read_text()[-2000:])
                    time.sleep(0.05)
                time.sleep(1.5)  # every worker up and, with leases, holding one
                latencies, rate = measure(f"http://127.0.0.1:{port}", upload, messages, busy)
            finally:
                process.terminate()
                process.wait(30)
    print(f"{workers} worker(s), leases {'on ' if leases else 'off'}: status 2xx in "
          f"p50 {pct(latencies, 0.5) * 1e3:.2f} ms, p99 {pct(latencies, 0.99) * 1e3:.2f} ms, "
          f"max {max(latencies) * 1e3:.2f} ms ({len(latencies)} messages); "
          f"verifications meanwhile {rate:,.0f}/s")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--workers", default="1,2")
    p.add_argument("--messages", type=int, default=300)
    p.add_argument("--leases", choices=("both", "on", "off"), default="both")
    p.add_argument("--busy", choices=("python", "wrk"), default="python",
                   help="what keeps the workers busy (wrk: saturated, as in the bench)")
    args = p.parse_args()
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.leases]
    for workers in (int(w) for w in args.workers.split(",")):
        for leases in modes:
            run(workers, leases, args.messages, args.busy)


if __name__ == "__main__":
    main()
