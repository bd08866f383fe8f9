"""A first HTTP benchmark of the gateway with wrk, against the limits measured in the same run.

    python -m load_tests.wrk_bench [--seconds 5] [--connections 32]

Starts its own embedded Redis, one ``hcgw serve`` process and an empty aiohttp server on
loopback, registers a key, writes code corpora, and drives each with wrk (Debian package
``wrk``): the empty handler (the HTTP limit), single codes on a cache hit and a cache miss,
batches of 100 on a hit and a miss. Prints requests/s, codes/s and ratios to the limits; wrk's
latency figures are closed-loop and only indicative (load_tests' own harness is open-loop).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgpack

from gateway.core.crypto import PrivateKey, generate_private_key, sign, spki_of, verify_signature
from gateway.core.model import Alg, Domain
from gateway.core.wire import encode_envelope, encode_text
from gateway.store.embedded import EmbeddedRedis

ISS = "440000"
TOKEN = "bench-" + "x" * 40

# wrk reads one request body per line of BODIES and cycles through them.
WRK_SCRIPT = """
local bodies, i = {}, 0
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "%(ctype)s"
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "%(path)s", nil, bodies[i])
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def envelope(domain: Domain, key: PrivateKey, payload: dict[object, object]) -> bytes:
    return encode_envelope(
        domain,
        key.public.alg,
        key.public.kid,
        msgpack.packb(payload, use_bin_type=True),
        lambda m: sign(key, m),
    )


def code(key: PrivateKey, now: int, i: int) -> str:
    claims: dict[object, object] = {
        1: ISS,
        2: os.urandom(16),
        4: now + 3600,
        6: now,
        7: i % 3,
        8: 1,
        9: hashlib.sha256(i.to_bytes(8, "big")).digest()[:16],
        10: "张*",
    }
    return encode_text(envelope(Domain.CODE, key, claims))


@contextmanager
def process(args: list[str], cwd: Path, log: Path, port: int) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except urllib.error.HTTPError:  # an HTTP answer of any kind: it is listening
                break
            except OSError as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args} did not start: {log.read_text()[-2000:]}") from exc
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def wrk(
    url: str, path: str, bodies: Path, ctype: str, seconds: float, connections: int, tmp: Path
) -> tuple[float, str]:
    script = tmp / f"wrk-{bodies.stem}.lua"
    script.write_text(WRK_SCRIPT % {"bodies": bodies, "ctype": ctype, "token": TOKEN, "path": path})
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"wrk saw {non2xx.group(1)} error answers on {path}:\n{out}")
    p99 = re.search(r"99%\s+(\S+)", out)
    return rps, p99.group(1) if p99 else "?"


def raw_rate(alg: Alg, seconds: float = 1.0) -> float:
    key = generate_private_key(alg)
    msg = os.urandom(200)
    sig = sign(key, msg)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            verify_signature(key.public, msg, sig)
        n += 200
    return n / (time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=32)
    args = p.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    now = int(time.time())
    upload, signing = generate_private_key(Alg.ED25519), generate_private_key(Alg.ED25519)
    print("signing code corpora ...", file=sys.stderr)
    n_miss = int(args.seconds * 20_000)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        hit = tmp / "hit.txt"
        hit.write_text(code(signing, now, 0) + "\n")
        miss = tmp / "miss.txt"
        miss.write_text("\n".join(code(signing, now, i) for i in range(n_miss)) + "\n")
        batch_hit = tmp / "batch_hit.txt"
        batch_hit.write_text(
            json.dumps({"codes": [code(signing, now, i) for i in range(100)]}) + "\n"
        )
        batch_miss = tmp / "batch_miss.txt"
        batches = (
            json.dumps({"codes": [code(signing, now, b * 100 + i) for i in range(100)]})
            for b in range(int(args.seconds * 200))
        )
        batch_miss.write_text("\n".join(batches) + "\n")
        redis = EmbeddedRedis(tmp / "redis")
        redis.start_sync()
        gw_port, empty_port = free_port(), free_port()
        config = tmp / "hcgw.toml"
        config.write_text(f"""[gateway]
listen = "127.0.0.1:{gw_port}"
redis_url = "{redis.url}"
trust_key = "{tmp / "hub.pem"}"
local_cache_size = 1000000

[[issuer]]
iss = "{ISS}"
upload_keys = ["{b64(spki_of(upload))}"]

[[client]]
id = "bench"
token_sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"
scopes = ["verify"]
rate = 100000000
""")
        rows: list[tuple[str, float, float, str]] = []
        try:
            with process(
                [sys.executable, "-m", "load_tests.empty_server", "--port", str(empty_port)],
                tmp,
                tmp / "empty.log",
                empty_port,
            ):
                rps, p99 = wrk(
                    f"http://127.0.0.1:{empty_port}",
                    "/v1/verify",
                    hit,
                    "text/plain",
                    args.seconds,
                    args.connections,
                    tmp,
                )
                rows.append(("limit: empty aiohttp POST handler", rps, rps, p99))
            empty_rate = rps
            ed_rate = raw_rate(Alg.ED25519)
            rows.append(("limit: raw Ed25519 verify, one core", ed_rate, ed_rate, "-"))
            with process(
                [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
                tmp,
                tmp / "gateway.log",
                gw_port,
            ):
                add = envelope(
                    Domain.ADMIN,
                    upload,
                    {
                        "typ": "key.add",
                        "iss": ISS,
                        "iat": int(time.time()),
                        "nonce": os.urandom(16),
                        "alg": "Ed25519",
                        "spki": spki_of(signing),
                        "nbf": now - 60,
                        "naf": now + 86_400,
                    },
                )
                req = urllib.request.Request(
                    f"http://127.0.0.1:{gw_port}/v1/issuers/{ISS}/keys",
                    data=add,
                    headers={"Content-Type": "application/msgpack"},
                )
                urllib.request.urlopen(req, timeout=5)  # noqa: S310
                url = f"http://127.0.0.1:{gw_port}"
                for name, path, bodies, ctype, per in (
                    ("single code, cache hit", "/v1/verify", hit, "text/plain", 1),
                    ("single code, cache miss", "/v1/verify", miss, "text/plain", 1),
                    (
                        "batch of 100, cache hit",
                        "/v1/verify/batch",
                        batch_hit,
                        "application/json",
                        100,
                    ),
                    (
                        "batch of 100, cache miss",
                        "/v1/verify/batch",
                        batch_miss,
                        "application/json",
                        100,
                    ),
                ):
                    rps, p99 = wrk(url, path, bodies, ctype, args.seconds, args.connections, tmp)
                    rows.append((name, rps, rps * per, p99))
        finally:
            redis.stop_sync()
    print(f"\n{'':38} {'requests/s':>11} {'codes/s':>10} {'p99':>9}  ratios")
    for name, rps, cps, p99 in rows:
        ratio = ""
        if not name.startswith("limit"):
            ratio = f"{rps / empty_rate:.2f} x empty handler, {cps / ed_rate:.2f} x raw verify"
        print(f"{name:38} {rps:>11,.0f} {cps:>10,.0f} {p99:>9}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
