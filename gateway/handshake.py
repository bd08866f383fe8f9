"""The hub's process protocol: how ``hcgw serve`` and its workers say they are up, what a worker
is told when it is started, and how a hub that refuses to start says so.

Standard library only, and it imports nothing of the gateway: both sides use it, the hub
(``gateway.cli``, ``gateway.server``, ``gateway.supervisor``, ``gateway.worker``) and whoever
starts one (``gateway.launch``, which the tests, the load tests and the simulator use).

**Ready files.** ``hcgw serve --ready-file PATH`` writes PATH once the hub serves: with one
worker once it listens, with ``workers = N`` once every worker listens. A worker started by the
supervisor writes the file its ``HCGW_WORKER_READY`` names once it listens. A ready file is one
line, the API's bound address, ``host:port`` and a newline (an IPv6 host without brackets,
``::1:8080``: split at the last colon). It is written aside and renamed into place, so a reader
that sees the file sees the whole line; it appears only once the listener accepts.

**A worker's environment.** The supervisor starts each worker as ``python -m gateway worker``
(``WORKER_ARGV``) with the hub's own environment plus:

- ``HCGW_WORKER_READY``: the worker's ready file, ``data_dir/run/worker-I.ready``;
- ``HCGW_REDIS_URL``: the Redis every worker shares, the embedded server's URL when ``serve``
  started one (``HCGW_*`` variables override the config file, docs/configuration.md);
- ``PROMETHEUS_MULTIPROC_DIR``: prometheus-client's own variable, ``data_dir/run/metrics``
  (emptied at start), where every worker writes its metrics so /metrics totals them;
- ``HCGW_CONFIG``: the config file's absolute path, set by ``hcgw serve``; each worker reads the
  same file, and again on SIGHUP. ``serve``'s flags reach the workers as their variables
  (``--listen`` as ``HCGW_LISTEN``, ``--workers``, ``--log-format``, ``--redis-url``).

**Refusals.** A hub that does not start prints one plain line starting ``hcgw: `` as the last on
stderr and exits with ``EXIT_REFUSED`` (2: a configuration error, another hub on the data
directory), ``EXIT_NOT_DURABLE`` (3: Redis cannot keep acknowledged writes) or ``EXIT_OS_ERROR``
(1: e.g. the port is in use). A launcher shows that line alone; any other end, with the log's.
"""

from __future__ import annotations

import os
from pathlib import Path

WORKER_READY = "HCGW_WORKER_READY"
REDIS_URL = "HCGW_REDIS_URL"
CONFIG = "HCGW_CONFIG"
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
WORKER_ARGV = ("-m", "gateway", "worker")  # after sys.executable

REFUSAL = "hcgw: "  # the first characters of a refusal's one line
EXIT_OS_ERROR, EXIT_REFUSED, EXIT_NOT_DURABLE = 1, 2, 3


def write_ready(path: Path, host: str, port: int) -> None:
    """Say that the API listens on ``host:port``: the whole line at once, or nothing."""
    aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    aside.write_text(f"{host}:{port}\n")
    os.replace(aside, path)


def read_ready(path: Path) -> tuple[str, int]:
    """The address a ready file holds; ``ValueError`` if it holds no ``host:port``."""
    host, sep, port = path.read_text().strip().rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{path} holds no host:port")
    return host.strip("[]"), int(port)
