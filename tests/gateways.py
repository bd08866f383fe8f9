"""Real ``hcgw serve`` processes for tests that need more than one gateway, or a kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from factory import World, config_toml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    def __init__(
        self, world: World, workdir: Path, redis_url: str, name: str, **gateway: str
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.config = workdir / f"{name}.toml"
        self.config.write_text(
            config_toml(
                world,
                listen=f"127.0.0.1:{self.port}",
                redis_url=redis_url,
                trust_key=str(workdir / "hub-trust-key.pem"),
                **gateway,
            )
        )
        self.ready = workdir / f"{name}.ready"
        self.log = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(
        self, timeout: float = 15.0, *, preexec_fn: Callable[[], object] | None = None
    ) -> None:
        """``preexec_fn`` runs in the child before it execs (e.g. to set its rlimits)."""
        self.ready.unlink(missing_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway",
                    "serve",
                    "--config",
                    str(self.config),
                    "--ready-file",
                    str(self.ready),
                ],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HCGW_LOG_LEVEL": "INFO"},
                preexec_fn=preexec_fn,
            )
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


def healthz_pid(url: str) -> int:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:  # noqa: S310 - loopback
        return int(json.loads(r.read())["pid"])
