"""The last management writes, for the dashboard: keys added and revoked, statuses pushed.

Accepted and refused alike, each as issuer, action, outcome, kid, counts and time: what the audit
log line holds, minus the request hash. Nothing personal and no key material (a kid is public).

Each process keeps a small ring of every write, and two more of key writes and of refusals, so
a revocation or a refused upload stays listed however many statuses are pushed after it. In
multi-process mode it also writes the rings to a JSON file beside the metric files after every
write (management writes are rare; the file is a few KB), and :meth:`ManagementEvents.recent`
merges every worker's file, so the dashboard served by any worker shows the writes all workers
took.
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
KEPT_PER_KIND = 20  # key writes and refusals kept beside the ring of everything
_FIELDS = ("iss", "action", "outcome", "kid", "seq", "events", "applied")


class ManagementEvents:
    def __init__(self, share_dir: str | None, capacity: int = CAPACITY) -> None:
        self._ring: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._keys: deque[dict[str, Any]] = deque(maxlen=KEPT_PER_KIND)
        self._refusals: deque[dict[str, Any]] = deque(maxlen=KEPT_PER_KIND)
        self._capacity = capacity
        self._share_dir = share_dir
        self._order = itertools.count()

    def record(self, audit: Mapping[str, object], at: float) -> None:
        """Keep one audit record (the dict ``ManagementService`` logs) with its time."""
        event: dict[str, Any] = {"at": round(at, 3), "n": next(self._order)}
        event |= {k: audit[k] for k in _FIELDS if k in audit}
        self._ring.append(event)
        if is_key(event):
            self._keys.append(event)
        if is_refusal(event):
            self._refusals.append(event)
        if self._share_dir is not None:
            path = os.path.join(self._share_dir, f"events_{os.getpid()}.json")
            try:
                with open(path + ".tmp", "w", encoding="utf-8") as f:
                    json.dump(self._held(), f, ensure_ascii=False)
                os.replace(path + ".tmp", path)
            except OSError:
                pass  # the dashboard misses these lines; nothing else depends on them

    def _held(self) -> list[dict[str, Any]]:
        kept = {e["n"]: e for e in itertools.chain(self._ring, self._keys, self._refusals)}
        return list(kept.values())

    def recent(self, n: int = 20) -> list[dict[str, Any]]:
        """The ``n`` newest writes, the ``n`` newest key writes and the ``n`` newest refusals
        (each once, newest first), of this process or of every worker."""
        events = self._held()
        if self._share_dir is not None:
            events = []
            for path in glob.glob(os.path.join(self._share_dir, "events_*.json")):
                try:
                    with open(path, encoding="utf-8") as f:
                        events.extend(json.load(f))
                except (OSError, ValueError):
                    continue  # a worker replacing its file this instant: its lines come next poll
        events.sort(key=lambda e: (e["at"], e["n"]), reverse=True)
        keys = [e for e in events if is_key(e)][:n]
        refusals = [e for e in events if is_refusal(e)][:n]
        chosen = {id(e) for e in itertools.chain(events[:n], keys, refusals)}
        return [{k: v for k, v in e.items() if k != "n"} for e in events if id(e) in chosen]


def is_key(event: Mapping[str, Any]) -> bool:
    return str(event.get("action", "")).startswith("key.")


def is_refusal(event: Mapping[str, Any]) -> bool:
    return event.get("outcome") != "ok"
