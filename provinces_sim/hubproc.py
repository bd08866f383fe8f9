"""A gateway as a child process, ``python -m gateway serve``, for the demo and the tests.

Started through the gateway's one launcher (``gateway.launch.Hub``: ``--config``, ``--listen``,
``--ready-file``, waited for until the ready file appears; the only import of the gateway the
simulator's demo makes, and it runs the gateway as a program). This module adds what the demo
needs on top: a start that lets the scenario's event loop run meanwhile and says how long it
took, restarts counted, and a kill (SIGKILL, as a crash) besides the stop (SIGTERM, then
SIGKILL after a timeout), by PID only. With an empty ``redis_url`` the gateway runs its own
embedded redis-server under ``data_dir``; a gateway killed with -9 leaves that server running,
and the next start of the gateway on the same data dir shuts it down and takes over (see the
gateway's docs/durability.md), so nothing is left behind once the last start is stopped.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from gateway.launch import Hub, StartFailed


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
        self._hub = Hub(
            config,
            workdir,
            "hub",
            port=port,
            redis_url=redis_url,
            env={"HCGW_LOG_LEVEL": os.environ.get("HCGW_LOG_LEVEL", "INFO")},
            log=log,
        )
        self.config = config
        self.workdir = workdir
        self.port = self._hub.port
        self.url = self._hub.url
        self.redis_url = redis_url
        self.ready_file = self._hub.ready_file
        self.log = self._hub.log
        self.starts = 0
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout

    @property
    def pid(self) -> int | None:
        return self._hub.process.pid if self._hub.process is not None else None

    async def start(self) -> str:
        began = time.monotonic()
        try:
            await self._hub.start_async(self._start_timeout)
        except StartFailed as exc:
            tail = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(
                f"the gateway did not start ({exc.summary}); the end of {self.log}:\n{tail}"
            ) from None
        self.starts += 1
        return f"gateway pid {self.pid} ready in {time.monotonic() - began:.1f} s"

    async def kill(self) -> str:
        """SIGKILL, as a crash would; the embedded redis-server (if any) keeps running."""
        process = self._hub.process
        if process is None or process.poll() is not None:
            return "the gateway was not running"
        await asyncio.to_thread(self._hub.kill)
        return f"kill -9 of gateway pid {process.pid}"

    async def stop(self) -> None:
        process = self._hub.process
        if process is None or process.poll() is not None:
            return
        self.ready_file.unlink(missing_ok=True)
        await asyncio.to_thread(self._hub.stop, self._stop_timeout)
