"""Starting and stopping the servers a measurement needs: the gateway, the reference servers.

Every process is started through the gateway's launcher (``gateway.launch``: the harness's one
import of the gateway, which runs it as a program and imports nothing of it), waited for until
it answers over HTTP, its output kept in a log in its work directory, and stopped by its own
PID (SIGTERM, then SIGKILL after a grace period): never by name. A process that does not start
raises :class:`StartFailed`, whose first line says why in a sentence (a second gateway on the
same data directory: which directory, and how to start elsewhere); the log's end follows.
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from gateway.launch import Child, StartFailed, free_port, serve_argv

__all__ = [
    "Server",
    "StartFailed",
    "cpu_seconds",
    "free_port",
    "gateway",
    "gunicorn",
    "reference",
    "running",
]


class Server(Child):
    """A child process serving HTTP on 127.0.0.1:``port``; ready when ``GET probe`` answers
    and ``ready`` (if given) holds too."""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        workdir: Path,
        name: str,
        probe: str = "/healthz",
        env: Mapping[str, str] | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(argv, workdir, name, ready=self._serving, env=env)
        self.port, self.probe = port, probe
        self.also = ready  # beyond the first answer: e.g. every worker is up
        self.url = f"http://127.0.0.1:{port}"

    def _serving(self) -> bool:
        return self._answers() and (self.also is None or self.also())

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + self.probe, timeout=1):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True  # an HTTP answer of any kind: it is listening
        except OSError:
            return False


@contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def gateway(
    config: Path, workdir: Path, *, workers: int | None = None, name: str = "gateway",
    redis_url: str | None = None, redis_cluster: bool = False,
) -> Server:  # fmt: skip
    """``hcgw serve`` for a corpus' config on a free loopback port (embedded Redis unless
    ``redis_url``; a Redis Cluster node's URL with ``redis_cluster``), with ``--workers``."""
    port = free_port()
    ready = workdir / f"{name}.ready"  # written once every worker listens
    ready.unlink(missing_ok=True)
    argv = serve_argv(config.resolve(), listen=f"127.0.0.1:{port}", ready_file=ready,
                      redis_url=redis_url, workers=workers)  # fmt: skip
    env = {"HCGW_REDIS_CLUSTER": "true"} if redis_cluster else None
    return Server(argv, port, workdir, name, env=env, ready=ready.exists)


def gunicorn(config: Path, workdir: Path, *, workers: int, redis_url: str, name: str) -> Server:
    """The same gateway application under gunicorn's pre-fork server and aiohttp's uvloop worker
    (``load_tests.bench.gunicorn_app``), for the comparison with ``hcgw serve --workers``."""
    port = free_port()
    metrics, ready = workdir / "metrics", workdir / "ready"
    for directory in (metrics, ready):  # metrics: prometheus-client's multiprocess mode
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    argv = [sys.executable, "-m", "gunicorn", "load_tests.bench.gunicorn_app:app",
            "--worker-class", "aiohttp.GunicornUVLoopWebWorker", "--workers", str(workers),
            "--bind", f"127.0.0.1:{port}", "--backlog", "1024",
            "--graceful-timeout", "30", "--no-control-socket"]  # fmt: skip
    env = {"HCGW_CONFIG": str(config.resolve()), "HCGW_REDIS_URL": redis_url,
           "PROMETHEUS_MULTIPROC_DIR": str(metrics), "HCGW_READY_DIR": str(ready)}  # fmt: skip
    # Ready when every worker has started its application: a worker still booting when the
    # measurement starts would leave the other alone, and one booting at SIGTERM misses it.
    return Server(argv, port, workdir, name, env=env,
                  ready=lambda: len(list(ready.iterdir())) >= workers)  # fmt: skip


def reference(kind: str, workdir: Path, *extra: str) -> Server:
    """``hcgw-load serve-empty`` or ``serve-stall`` on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "load_tests", f"serve-{kind}", "--port", str(port), *extra]
    return Server(argv, port, workdir, f"{kind}-server", probe="/healthz")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")
