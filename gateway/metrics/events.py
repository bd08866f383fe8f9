"""The last management writes, for the dashboard: keys added and revoked, statuses pushed.

Accepted and refused alike, each as issuer, action, outcome, kid, counts and time: what the audit
log line holds, minus the request hash. Nothing personal and no key material (a kid is public).

Each process keeps a small ring. In multi-process mode it also writes the ring to a JSON file
beside the metric files after every write (management writes are rare; the file is a few KB),
and :meth:`ManagementEvents.recent` merges every worker's file, so the dashboard served by any
worker shows the writes all workers took.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
from collections import deque
from collections.abc import Mapping
from typing import Any

CAPACITY = 50
_FIELDS = ("iss", "action", "outcome", "kid", "seq", "events", "applied")


class ManagementEvents:
    def __init__(self, share_dir: str | None, capacity: int = CAPACITY) -> None:
        self._ring: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._capacity = capacity
        self._share_dir = share_dir
        self._order = itertools.count()

    def record(self, audit: Mapping[str, object], at: float) -> None:
        """Keep one audit record (the dict ``ManagementService`` logs) with its time."""
        event: dict[str, Any] = {"at": round(at, 3), "n": next(self._order)}
        event |= {k: audit[k] for k in _FIELDS if k in audit}
        self._ring.append(event)
        if self._share_dir is not None:
            path = os.path.join(self._share_dir, f"events_{os.getpid()}.json")
            try:
                with open(path + ".tmp", "w", encoding="utf-8") as f:
                    json.dump(list(self._ring), f, ensure_ascii=False)
                os.replace(path + ".tmp", path)
            except OSError:
                pass  # the dashboard misses these lines; nothing else depends on them

    def recent(self, n: int = 20) -> list[dict[str, Any]]:
        """The ``n`` newest writes, newest first, of this process or of every worker."""
        events = list(self._ring)
        if self._share_dir is not None:
            events = []
            for path in glob.glob(os.path.join(self._share_dir, "events_*.json")):
                try:
                    with open(path, encoding="utf-8") as f:
                        events.extend(json.load(f))
                except (OSError, ValueError):
                    continue  # a worker replacing its file this instant: its lines come next poll
        events.sort(key=lambda e: (e["at"], e["n"]), reverse=True)
        return [{k: v for k, v in e.items() if k != "n"} for e in events[:n]]
