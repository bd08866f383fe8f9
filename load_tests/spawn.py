"""``hcgw-load run --spawn-hub``: a hub of the run's own, for the corpus, measured and stopped.

A corpus carries its world's configuration (``hcgw.toml``) and keys; a hub started from
another world's (``provinces_sim config``) answers its codes 401. So the harness can start
``hcgw serve --config CORPUS/hcgw.toml`` itself, on a free loopback port, with an embedded
Redis in a temporary data directory (nothing seen before: the cache starts cold), prime it
with ``provinces_sim prime``, hand its URL to the run and stop it by its PID afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from load_tests.processes import StartFailed, gateway
from load_tests.report import HubInfo

PRIME_TIMEOUT_S = 300


class SpawnFailed(RuntimeError):
    """The hub did not start or could not be primed; the message is one line."""


@contextmanager
def spawned_hub(
    corpus: Path, *, workers: int | None = None, say: Callable[[str], None] = print
) -> Iterator[HubInfo]:
    with tempfile.TemporaryDirectory(prefix="hcgw-load-hub-") as tmp:
        server = gateway(corpus / "hcgw.toml", Path(tmp), workers=workers, name="hub")
        try:
            server.start()
        except StartFailed as exc:
            raise SpawnFailed(exc.summary) from None
        try:
            say(f"started a hub for {corpus} at {server.url} (pid {server.pid}, data in {tmp})")
            say(prime(corpus, server.url))
            yield HubInfo(server.url, spawned=True, pid=server.pid, workers=workers)
        finally:
            server.stop()


def prime(corpus: Path, url: str) -> str:
    argv = [sys.executable, "-m", "provinces_sim", "prime", "--corpus", str(corpus), "--hub", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=PRIME_TIMEOUT_S,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise SpawnFailed(f"priming the spawned hub failed: {last}")
    return done.stdout.strip().splitlines()[-1]
