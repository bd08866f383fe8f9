"""Real ``hcgw serve`` processes for tests that need more than one gateway, or a kill -9."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Self

from factory import World, config_toml
from gateway.launch import Hub


class GatewayProcess(Hub):
    """A hub for ``world`` on its own free port, with the Redis at ``redis_url`` (``""``: an
    embedded one in ``workdir``), its config, ready file and log named ``name`` in ``workdir``;
    ``gateway`` overrides ``[gateway]`` keys."""

    def __init__(
        self, world: World, workdir: Path, redis_url: str, name: str, **gateway: str
    ) -> None:
        super().__init__(workdir / f"{name}.toml", workdir, name, env={"HCGW_LOG_LEVEL": "INFO"})
        self.workdir = workdir
        self.config.write_text(
            config_toml(
                world,
                listen=f"127.0.0.1:{self.port}",
                redis_url=redis_url,
                trust_key=str(workdir / "hub-trust-key.pem"),
                **gateway,
            )
        )

    def start(
        self, timeout: float = 15.0, *, preexec_fn: Callable[[], object] | None = None
    ) -> Self:
        """``preexec_fn`` runs in the child before it execs (e.g. to set its rlimits)."""
        return super().start(timeout, preexec_fn=preexec_fn)

    def stop(self, grace: float = 15.0) -> int | None:
        return super().stop(grace)

    def kill9(self) -> None:
        assert self.process is not None
        self.kill()


def healthz_pid(url: str) -> int:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:  # noqa: S310 - loopback
        return int(json.loads(r.read())["pid"])
