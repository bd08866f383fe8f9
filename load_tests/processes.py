"""Starting and stopping the servers a measurement needs: the gateway, the reference servers.

Every process is started here, waited for until it answers, and stopped by its own PID
(SIGTERM, then SIGKILL after a grace period): never by name. A process that does not start
raises :class:`StartFailed`, whose first line says why in a sentence (a second gateway on the
same data directory: which directory, and how to start elsewhere); the log's end follows.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


class StartFailed(RuntimeError):
    """A server did not start. ``summary`` is one line; ``str()`` adds the log's end."""

    def __init__(self, summary: str, tail: str = "") -> None:
        super().__init__(summary + (f"\n{tail}" if tail else ""))
        self.summary = summary


def start_failure(name: str, tail: str) -> StartFailed:
    """The reason a server gave for not starting, in one line, from the end of its log."""
    last = next((x for x in reversed(tail.splitlines()) if x.strip()), "no output").strip()
    if last.startswith("hcgw: "):  # hcgw's own refusal (data directory in use, config): enough
        return StartFailed(f"{name} did not start: {last}")
    return StartFailed(f"{name} did not start: {last}", tail)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A child process serving HTTP on 127.0.0.1:``port``; ready when ``GET probe`` answers."""

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
        self.argv, self.port, self.workdir, self.name, self.probe = (
            list(argv),
            port,
            workdir,
            name,
            probe,
        )
        self.env = {**os.environ, **(env or {})}
        self.ready = ready  # beyond the first answer: e.g. every worker is up
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not (self._answers() and (self.ready is None or self.ready())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise start_failure(self.name, self.log.read_text(errors="replace")[-3000:])
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + self.probe, timeout=1):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True  # an HTTP answer of any kind: it is listening
        except OSError:
            return False

    def stop(self, grace: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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
    argv = [sys.executable, "-m", "gateway", "serve", "--config", str(config.resolve()),
            "--listen", f"127.0.0.1:{port}", "--ready-file", str(ready)]  # fmt: skip
    if redis_url is not None:
        argv += ["--redis-url", redis_url]
    if workers is not None:
        argv += ["--workers", str(workers)]
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
