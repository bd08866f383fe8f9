"""Starting a hub as a child process, ``python -m gateway serve``, and waiting until it serves.

The one launcher of ``hcgw serve`` for the tests (``tests/gateways.py``), the load tests
(``load_tests/processes.py``) and the simulator's demo (``provinces_sim/hubproc.py``); what each
adds (log capture and HTTP probes, fixtures, kill -9 and restarts) stays on top of it there.

- :func:`free_port`: a free loopback port, for a hub or anything else a test starts.
- :class:`Child`: any server as a child process: its output appended to a log file, started and
  waited for until a readiness check holds (sync :meth:`Child.start`, or
  :meth:`Child.start_async` inside an event loop), stopped by its own PID (SIGTERM, then SIGKILL
  after a grace period), killed with SIGKILL as a crash would. Never by name.
- :class:`Hub`: a ``Child`` running ``hcgw serve`` on ``127.0.0.1:port``, ready when its ready
  file appears (the protocol is ``gateway.handshake``).
- :class:`StartFailed`: a child that did not start; ``summary`` is one line (the hub's own
  refusal when it gave one), ``str()`` adds the end of its log otherwise.

It starts the gateway as a program and imports nothing of it but ``gateway.handshake``
(import-linter keeps it so), which is why the simulator and the load harness, which never run
the gateway's code, may import it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

from gateway.handshake import REFUSAL

POLL = 0.05  # seconds between two looks at a starting child


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (another process may take it before the caller does)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class StartFailed(RuntimeError):
    """A child did not start. ``summary`` is one line; ``str()`` adds the log's end."""

    def __init__(self, summary: str, tail: str = "") -> None:
        super().__init__(summary + (f"\n{tail}" if tail else ""))
        self.summary = summary


def start_failure(name: str, tail: str) -> StartFailed:
    """The reason a child gave for not starting, in one line, from the end of its log."""
    last = next((x for x in reversed(tail.splitlines()) if x.strip()), "no output").strip()
    if last.startswith(REFUSAL):  # hcgw's own refusal (data directory in use, config): enough
        return StartFailed(f"{name} did not start: {last}")
    return StartFailed(f"{name} did not start: {last}", tail)


class Child:
    """``argv`` run in ``workdir`` with ``env`` over this process's environment, its stdout and
    stderr appended to ``log``; started once ``ready()`` holds."""

    def __init__(
        self,
        argv: Sequence[str],
        workdir: Path,
        name: str,
        *,
        ready: Callable[[], bool],
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.workdir = workdir
        self.name = name
        self.ready = ready
        self.env = {**os.environ, **(env or {})}
        self.log = log or workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def spawn(self, preexec_fn: Callable[[], object] | None = None) -> subprocess.Popen[bytes]:
        """Start the process and return at once. ``preexec_fn`` runs in the child before it
        execs (e.g. to set its rlimits)."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"{self.name} (pid {self.process.pid}) is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                self.argv,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec_fn,
            )
        return self.process

    def starting(self, deadline: float) -> bool:
        """True while the child is starting, False once it is ready. A child that exited or is
        not ready by ``deadline`` (``time.monotonic()``) is stopped: :class:`StartFailed`."""
        if self.ready():
            return False
        assert self.process is not None
        if self.process.poll() is not None or time.monotonic() > deadline:
            self.stop()
            raise start_failure(self.name, self.log.read_text(errors="replace")[-3000:])
        return True

    def start(
        self, timeout: float = 30.0, *, preexec_fn: Callable[[], object] | None = None
    ) -> Self:
        self.spawn(preexec_fn)
        deadline = time.monotonic() + timeout
        while self.starting(deadline):
            time.sleep(POLL)
        return self

    async def start_async(self, within: float = 30.0) -> None:
        """:meth:`start` (``within`` its timeout) that lets the event loop run meanwhile."""
        self.spawn()
        deadline = time.monotonic() + within
        while self.starting(deadline):  # noqa: ASYNC110 - a file another process writes
            await asyncio.sleep(POLL)

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM, and SIGKILL if it has not exited after ``grace`` seconds: its exit status
        (``None`` if it was never started)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing of the child runs its shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def serve_argv(
    config: Path,
    *,
    listen: str,
    ready_file: Path,
    redis_url: str | None = None,
    workers: int | None = None,
) -> list[str]:
    """The command line of ``hcgw serve`` (run by this interpreter, so in this environment)."""
    argv = [sys.executable, "-m", "gateway", "serve", "--config", str(config.absolute()),
            "--listen", listen, "--ready-file", str(ready_file)]  # fmt: skip
    if redis_url is not None:
        argv += ["--redis-url", redis_url]
    if workers is not None:
        argv += ["--workers", str(workers)]
    return argv


class Hub(Child):
    """``hcgw serve --config CONFIG`` on ``127.0.0.1:port`` (a free port unless given), with
    its ready file and log in ``workdir`` under ``name``; ready once the ready file is there."""

    def __init__(
        self,
        config: Path,
        workdir: Path,
        name: str = "hub",
        *,
        port: int | None = None,
        redis_url: str | None = None,
        workers: int | None = None,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.ready_file = workdir / f"{name}.ready"
        argv = serve_argv(
            config,
            listen=f"127.0.0.1:{self.port}",
            ready_file=self.ready_file,
            redis_url=redis_url,
            workers=workers,
        )
        super().__init__(argv, workdir, name, ready=self.ready_file.exists, env=env, log=log)

    def spawn(self, preexec_fn: Callable[[], object] | None = None) -> subprocess.Popen[bytes]:
        self.ready_file.unlink(missing_ok=True)  # a stale one would say "ready" at once
        return super().spawn(preexec_fn)
