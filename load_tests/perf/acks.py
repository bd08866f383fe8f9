"""Acknowledgement latency of ``status`` messages while the workers are busy (issue 11, item 2).

    .venv/bin/python load_tests/perf/acks.py [--workers 1,2] [--messages 300] [--leases both|on|off]

Starts ``hcgw serve`` (embedded Redis, loopback) with N workers, registers a key, then keeps
the workers busy with 16 connections verifying cached codes (from another process, so that
this one measures only the hub) while one connection sends
``status`` messages one after another; prints each message's time to its 2xx (p50 / p99 /
max) and the verifications' rate, with ``lease_invalidation`` off and on.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgpack

from gateway.core.crypto import generate_private_key, sign
from gateway.core.model import Alg, Domain
from gateway.core.wire import encode_envelope
from gateway.launch import free_port

ISS = "440000"
TOKEN = base64.urlsafe_b64encode(os.urandom(24)).decode()


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def envelope(domain: Domain, key: Any, payload: dict[Any, Any]) -> bytes:
    packed = msgpack.packb(payload, use_bin_type=True)
    return encode_envelope(domain, key.public.alg, key.public.kid, packed, lambda m: sign(key, m))


def config(tmp: Path, port: int, workers: int, leases: bool, upload: Any) -> Path:
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


async def measure(url: str, upload: Any, messages: int) -> tuple[list[float], float]:
    now = int(time.time())
    signer = generate_private_key(Alg.ED25519)
    subs = [os.urandom(16) for _ in range(200)]
    codes = [
        envelope(Domain.CODE, signer, {1: ISS, 2: os.urandom(16), 4: now + 3600, 6: now, 7: 0,
                                       8: 0, 9: sub})
        for sub in subs
    ]
    msgpack_headers = {"Content-Type": "application/msgpack"}

    def admin(payload: dict[str, Any]) -> bytes:
        base = {"iss": ISS, "iat": int(time.time()), "nonce": os.urandom(16)}
        return envelope(Domain.ADMIN, upload, {**base, **payload})

    async with aiohttp.ClientSession() as s:
        add = admin({"typ": "key.add", "alg": "Ed25519", "spki": signer.public.spki,
                     "nbf": now - 60, "naf": now + 86_400})  # fmt: skip
        async with s.post(f"{url}/v1/issuers/{ISS}/keys", data=add, headers=msgpack_headers) as r:
            assert r.status == 201, await r.text()
        done = multiprocessing.Value("q", 0)
        stop = multiprocessing.Event()
        load = multiprocessing.Process(target=keep_busy, args=(url, codes, stop, done))
        load.start()  # another process: this one stays idle, so it measures only the hub
        await asyncio.sleep(1.0)
        before = done.value
        latencies, started = [], time.perf_counter()
        for seq in range(1, messages + 1):
            event = [random.choice(subs), seq % 3, seq, now]
            body = admin({"typ": "status", "seq": seq, "events": [event]})
            t = time.perf_counter()
            async with s.post(f"{url}/v1/issuers/{ISS}/status", data=body,
                              headers=msgpack_headers) as r:  # fmt: skip
                assert r.status == 200, await r.text()
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - started
        verified = done.value - before
        stop.set()
        load.join(30)
    return latencies, verified / elapsed


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


def run(workers: int, leases: bool, messages: int) -> None:
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
                latencies, rate = asyncio.run(
                    measure(f"http://127.0.0.1:{port}", upload, messages)
                )
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
    args = p.parse_args()
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.leases]
    for workers in (int(w) for w in args.workers.split(",")):
        for leases in modes:
            run(workers, leases, args.messages)


if __name__ == "__main__":
    main()
