"""The hub's trust-list key file (``trust_key``): created once, the same key for every process."""

from __future__ import annotations

import threading
from pathlib import Path

from gateway.core.crypto import PublicKey
from gateway.keyfile import load_or_create_hub_key


def test_processes_starting_together_all_get_the_one_key_written(tmp_path: Path) -> None:
    path = tmp_path / "var" / "hub-trust-key.pem"
    start = threading.Barrier(8)
    keys: list[PublicKey] = []

    def starter() -> None:
        start.wait()
        keys.append(load_or_create_hub_key(path).public)

    threads = [threading.Thread(target=starter) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert load_or_create_hub_key(path).public == keys[0]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # nothing left aside
    assert path.stat().st_mode & 0o777 == 0o600
