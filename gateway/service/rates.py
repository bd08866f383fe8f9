"""Per-client rates that hold for the hub as a whole (SPEC §5), without a Redis call per request.

The bucket lives in Redis, shared by all workers. A worker that needs tokens asks for its
request's cost plus a small lease (5 % of the client's rate); later requests spend the lease
locally until it runs out. Every token spent was granted by the shared bucket, so all workers
together never exceed it; a lease at most delays when another worker's refusal starts. For a
slow client (rate under 20/s) the lease is zero and every request asks Redis.
"""

from __future__ import annotations

from gateway.config import ClientConfig
from gateway.errors import RateLimited
from gateway.store.lookup import Facts, Fetched, RateCharge

LEASE_SHARE = 0.05


class RateLeases:
    def __init__(self) -> None:
        self._held: dict[str, int] = {}
        self._leasing: set[str] = set()  # clients with a lease request on its way

    def plan(self, client: ClientConfig, cost: int) -> RateCharge | None:
        """Spend ``cost`` from this worker's lease, or say what to ask the shared bucket for."""
        held = self._held.get(client.id, 0)
        if held >= cost:
            self._held[client.id] = held - cost
            return None
        lease = 0
        if client.id not in self._leasing:  # one lease request at a time per client
            lease = int(client.rate * LEASE_SHARE)
            if lease:
                self._leasing.add(client.id)
        return RateCharge(client.id, client.rate, cost, cost + lease)

    def settle(self, charge: RateCharge | None, fetched: Fetched | Facts | None) -> None:
        """Keep the lease that came with a grant; raise 429 when the bucket refused.

        ``fetched`` is None when the call to Redis did not complete: the lease request is over.
        """
        if charge is None:
            return
        if charge.want > charge.need:
            self._leasing.discard(charge.client_id)
        held = self._held.get(charge.client_id, 0)
        granted = fetched.granted if fetched is not None else 0
        if granted >= charge.need:
            self._held[charge.client_id] = held + granted - charge.need
        elif held >= charge.need:  # a concurrent request's lease arrived meanwhile
            self._held[charge.client_id] = held - charge.need
        elif fetched is not None:
            raise RateLimited("over the client's rate", retry_after=fetched.retry_after)
