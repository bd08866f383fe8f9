"""The supervisor of N worker processes on one port (``workers = N``).

Each worker is ``python -m gateway worker``: its own event loop, its own Redis connections and
caches, the same listen address opened with SO_REUSEPORT, so the kernel spreads connections over
them. The supervisor starts them, restarts one that dies (a crash loop, five deaths within ten
seconds, stops the hub rather than spin), and on SIGTERM or SIGINT passes SIGTERM on, so every
worker stops accepting, finishes its requests in flight and exits; then the supervisor returns.
On SIGHUP it reads the config file once: a file that does not load is refused with one line and
goes no further; otherwise every worker gets SIGHUP and replaces its ``[[client]]`` entries.
Every guarantee of SPEC §4 holds across workers because their only shared state is Redis.

Worker metrics are written to ``PROMETHEUS_MULTIPROC_DIR`` (emptied at start), so /metrics on
any worker totals all of them. What a worker is told and how it says it listens is the protocol
in ``gateway.handshake``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import sys
import time
from collections import deque
from pathlib import Path

from gateway.config import ConfigError, Settings, split_host_port
from gateway.handshake import METRICS_DIR, WORKER_ARGV, WORKER_READY, read_ready, write_ready
from gateway.worker import SHUTDOWN_GRACE, Reload, announce

log = logging.getLogger("hcgw.supervisor")

START_TIMEOUT = 30.0
CRASH_LIMIT, CRASH_WINDOW = 5, 10.0


class Supervisor:
    def __init__(self, settings: Settings, environ: dict[str, str], reload: Reload) -> None:
        self._settings = settings
        self._reload = reload
        self._count = settings.workers
        self._run_dir = Path(settings.data_dir).absolute() / "run"
        self._environ = environ
        self._workers: dict[int, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()
        self._crashes: deque[float] = deque(maxlen=CRASH_LIMIT)

    async def run(self, ready_file: Path | None) -> int:
        metrics_dir = self._run_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        self._environ = {**self._environ, METRICS_DIR: str(metrics_dir)}
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._hang_up)
        try:
            await asyncio.gather(*(self._start(i) for i in range(self._count)))
        except RuntimeError as exc:
            log.error("%s", exc)
            await self._stop_all()
            return 1
        log.info(
            "hub running with %d workers: pids %s",
            self._count,
            sorted(p.pid for p in self._workers.values()),
        )
        # The port worker 0 bound (``listen`` may name port 0; the others share it).
        host, port = read_ready(self._run_dir / "worker-0.ready")
        admin = self._settings.admin_listen
        announce(
            self._settings,
            (host, port),
            split_host_port(admin, "admin_listen") if admin else None,
            self._count,
        )
        if ready_file is not None:
            write_ready(ready_file, host, port)
        code = await self._watch()
        await self._stop_all()
        return code

    async def _start(self, index: int) -> None:
        ready = self._run_dir / f"worker-{index}.ready"
        ready.unlink(missing_ok=True)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *WORKER_ARGV,
            env={**self._environ, WORKER_READY: str(ready)},
        )
        self._workers[index] = process
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {index} did not start (exit {process.returncode})")
            await asyncio.sleep(0.05)

    async def _watch(self) -> int:
        while not self._stopping.is_set():
            waits = {asyncio.ensure_future(p.wait()): i for i, p in self._workers.items()}
            stop = asyncio.ensure_future(self._stopping.wait())
            done, _ = await asyncio.wait([*waits, stop], return_when=asyncio.FIRST_COMPLETED)
            for task in [*waits, stop]:
                if task not in done:
                    task.cancel()
            if self._stopping.is_set():
                break
            for task in done:
                index = waits.get(task)
                if index is None:
                    continue
                dead = self._workers[index]
                self._forget_metrics(dead.pid)
                now = time.monotonic()
                self._crashes.append(now)
                if len(self._crashes) == CRASH_LIMIT and now - self._crashes[0] < CRASH_WINDOW:
                    log.error(
                        "workers keep dying (%d in %.0f s): stopping the hub",
                        CRASH_LIMIT,
                        CRASH_WINDOW,
                    )
                    return 1
                log.warning(
                    "worker %d (pid %d) exited with %s: starting a new one",
                    index,
                    dead.pid,
                    dead.returncode,
                )
                try:
                    await self._start(index)
                except RuntimeError as exc:
                    log.error("%s", exc)
                    return 1
        return 0

    def _hang_up(self) -> None:
        try:
            clients = self._reload().clients
        except ConfigError as exc:
            log.error(
                "SIGHUP: config file refused, the workers keep their clients: %s",
                exc,
                extra={"fields": {"event": "clients_refused"}},
            )
            return
        log.info(
            "SIGHUP: the config file holds %d clients; passing SIGHUP on to %d workers",
            len(clients),
            len(self._workers),
        )
        for process in self._workers.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGHUP)

    async def _stop_all(self) -> None:
        for process in self._workers.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self._workers.values():
            try:
                await asyncio.wait_for(process.wait(), SHUTDOWN_GRACE + 5)
            except TimeoutError:
                log.error("worker pid %d did not stop in time: killing it", process.pid)
                process.kill()
                await process.wait()
            self._forget_metrics(process.pid)

    def _forget_metrics(self, pid: int) -> None:
        directory = self._environ.get(METRICS_DIR)
        if directory:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
