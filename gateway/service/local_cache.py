"""The per-process layer: envelope digest → decoded code and its signature's outcome.

Only what can never change is kept: a kid names one key for good (kid collisions are refused),
so whether these exact bytes were signed by it is a fact. Revocation, validity windows, expiry
and status are judged afresh on every use. An entry is dropped once its code has expired, and
the oldest go first when the layer is full.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.model import Code


@dataclass(frozen=True, slots=True)
class Checked:
    code: Code
    signature_valid: bool


class LocalCache:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: dict[bytes, Checked] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes, now: int) -> Checked | None:
        entry = self._entries.get(digest)
        if entry is not None and now >= entry.code.exp:
            del self._entries[digest]
            return None
        return entry

    def put(self, digest: bytes, entry: Checked) -> None:
        if self._capacity <= 0:
            return
        if digest not in self._entries and len(self._entries) >= self._capacity:
            del self._entries[next(iter(self._entries))]  # dicts keep insertion order: FIFO
        self._entries[digest] = entry
