"""A gateway as a child process: ``python -m gateway serve``, for the demo and the tests.

It is started with ``--config``, ``--listen`` and ``--ready-file`` and waited for until the
ready file appears; it is killed (SIGKILL, as a crash) or stopped (SIGTERM, then SIGKILL after
a timeout) by its PID only. With an empty ``redis_url`` the gateway runs its own embedded
redis-server under ``data_dir``; a gateway killed with -9 leaves that server running, and the
next start of the gateway on the same data dir shuts it down and takes over (see the
gateway's docs/durability.md), so nothing is left behind once the last start is stopped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    def __init__(
        self,
        config: Path,
        workdir: Path,
        *,
        port: int | None = None,
        redis_url: str | None = None,
        log: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 20.0,
    ) -> None:
        self.config = config
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis_url = redis_url
        self.ready_file = workdir / "hub.ready"
        self.log = log or workdir / "hub.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _spawn(self) -> subprocess.Popen[bytes]:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"the gateway (pid {self.process.pid}) is already running")
        self.ready_file.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "gateway", "serve",
            "--config", str(self.config),
            "--listen", f"127.0.0.1:{self.port}",
            "--ready-file", str(self.ready_file),
        ]  # fmt: skip
        if self.redis_url is not None:
            command += ["--redis-url", self.redis_url]
        with open(self.log, "ab") as log:
            return subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HCGW_LOG_LEVEL": os.environ.get("HCGW_LOG_LEVEL", "INFO")},
            )

    async def start(self) -> str:
        began = time.monotonic()
        self.process = process = self._spawn()
        while not self.ready_file.exists():
            if process.poll() is not None or time.monotonic() - began > self._start_timeout:
                tail = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
                await self.stop()
                raise RuntimeError(f"the gateway did not start; the end of {self.log}:\n{tail}")
            await asyncio.sleep(0.05)
        self.starts += 1
        return f"gateway pid {process.pid} ready in {time.monotonic() - began:.1f} s"

    async def kill(self) -> str:
        """SIGKILL, as a crash would; the embedded redis-server (if any) keeps running."""
        process = self.process
        if process is None or process.poll() is not None:
            return "the gateway was not running"
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        return f"kill -9 of gateway pid {process.pid}"

    async def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        self.ready_file.unlink(missing_ok=True)
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, self._stop_timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait)
