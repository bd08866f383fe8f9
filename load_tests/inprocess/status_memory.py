"""Redis bytes per stored status at a realistic size, checked with the simulator's own world.

    python -m load_tests.inprocess.status_memory [--scale 0.0002] [--out DIR]

Writes a corpus at ``--scale`` (residents per person of the 2020 census: 0.0002 is about 280,000
residents), starts an embedded Redis and one gateway, primes the hub with the corpus (every
status pushed through the API), and divides the growth of Redis's ``used_memory`` by the number
of statuses stored. docs/scale.md uses the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import redis.asyncio as aioredis

from gateway.store.embedded import EmbeddedRedis
from load_tests.processes import free_port


async def used_memory(url: str) -> tuple[int, int]:
    client = aioredis.Redis.from_url(url)
    try:
        return int((await client.info("memory"))["used_memory"]), int(await client.dbsize())
    finally:
        await client.aclose()


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scale", type=float, default=0.0002)
    p.add_argument("--out", type=Path, help="keep the corpus here (default: a temp dir)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        corpus = work / "corpus"
        py = sys.executable
        subprocess.run(
            [
                py,
                "-m",
                "provinces_sim",
                "corpus",
                "--out",
                str(corpus),
                "--codes",
                "1000",
                "--scale",
                str(args.scale),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        statuses = msgpack.unpackb((corpus / "keystore" / "statuses.msgpack").read_bytes())
        count = sum(len(v) for v in statuses.values())
        redis = EmbeddedRedis(work / "redis")
        redis.start_sync()
        port = free_port()
        hub = subprocess.Popen(
            [
                py,
                "-m",
                "gateway",
                "serve",
                "--config",
                str(corpus / "hcgw.toml"),
                "--listen",
                f"127.0.0.1:{port}",
                "--redis-url",
                redis.url,
                "--ready-file",
                str(work / "ready"),
            ],
            cwd=work,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not (work / "ready").exists():
                if hub.poll() is not None:
                    raise SystemExit("the gateway did not start")
                time.sleep(0.05)
            before, keys_before = asyncio.run(used_memory(redis.url))
            started = time.monotonic()
            subprocess.run(
                [
                    py,
                    "-m",
                    "provinces_sim",
                    "prime",
                    "--corpus",
                    str(corpus),
                    "--hub",
                    f"http://127.0.0.1:{port}",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            took = time.monotonic() - started
            after, keys_after = asyncio.run(used_memory(redis.url))
        finally:
            hub.terminate()
            hub.wait(timeout=30)
            redis.stop_sync()
    print(
        f"scale {args.scale}: {count:,} statuses pushed in {took:.1f} s; "
        f"Redis keys +{keys_after - keys_before:,}; used_memory +{after - before:,} B = "
        f"{(after - before) / count:.1f} B per status"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
