"""A real Redis Cluster on loopback: 3 masters with one replica each, built from the same
redis-server binary the embedded mode uses, and joined with its redis-cli.

The tests run the API suite and the failover test on it; ``hcgw-load bench`` measures the gateway
on it beside a single Redis. Every node is an ``EmbeddedRedis`` (AOF, ``appendfsync always``), so
the gateway's durability check passes on each, as it must on a production cluster.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

from gateway.store.embedded import EmbeddedRedis, find_redis_server


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too, as Redis Cluster needs."""
    for _ in range(200):
        port = random.randint(20_000, 45_000)
        try:
            for p in (port, port + 10_000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


CLUSTER_CONFIG = (
    "cluster-enabled yes",
    "cluster-config-file nodes.conf",
    "cluster-node-timeout 1000",
    "cluster-replica-validity-factor 0",  # a replica may always take over
)


class LocalCluster:
    def __init__(self, root: Path, masters: int = 3, replicas: int = 1) -> None:
        self.ports = [cluster_port() for _ in range(masters * (1 + replicas))]
        self.nodes = [
            EmbeddedRedis(
                root / f"node{i}", port=port, unix_socket=False, extra_config=CLUSTER_CONFIG
            )
            for i, port in enumerate(self.ports)
        ]
        self.replicas = replicas

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> None:
        for node in self.nodes:
            node.start_sync()
        cli = str(Path(find_redis_server()).with_name("redis-cli"))
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_ok()

    def wait_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = set()
            for node, port in zip(self.nodes, self.ports, strict=True):
                if not node.running:
                    continue
                try:
                    with redis.Redis(port=port, socket_timeout=1) as r:
                        info = r.execute_command("CLUSTER", "INFO").decode()
                    states.add("ok" if "cluster_state:ok" in info else "fail")
                except redis.RedisError:
                    states.add("fail")
            if states == {"ok"}:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ok: {states}")
            time.sleep(0.1)

    def master_of(self, key: bytes | str) -> EmbeddedRedis:
        with redis.Redis(port=self.ports[0]) as r:
            slot = r.execute_command("CLUSTER", "KEYSLOT", key)
            for start, end, master, *_ in r.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    port = master[1]
                    return self.nodes[self.ports.index(port)]
        raise LookupError(key)

    def flush_sync(self) -> None:
        with redis.RedisCluster(host="127.0.0.1", port=self.ports[0]) as client:
            client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)

    async def flush(self) -> None:
        from redis.asyncio.cluster import RedisCluster

        client = RedisCluster(host="127.0.0.1", port=self.ports[0])
        try:
            await client.flushall(target_nodes=RedisCluster.PRIMARIES)
        finally:
            await client.aclose()

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        for node in self.nodes:
            if node.pid is not None:
                node.resume()
            node.stop_sync()
