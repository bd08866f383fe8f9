"""The store's typed reads (SPEC §3.1's fresh facts): a verification asks for ``(iss, sub,
digest)`` items and gets statuses, cached outcomes and the registry stamp back in the domain's
words, on one Redis and on the cluster; key names and encodings never leave the store.
"""

from __future__ import annotations

import hashlib
import os

from factory import BJ, GD, NOW
from gateway.core.admin import StatusEvent
from gateway.core.model import Colour, IssuerCode, Status
from gateway.store.lookup import LookupCoalescer
from gateway.store.registry import NonceUse
from gateway.store.status import StatusStore
from hubtest import MakeHub


async def test_a_read_answers_statuses_and_cached_outcomes_item_by_item(make_hub: MakeHub) -> None:
    hub = await make_hub()
    redis, cluster = hub.hub.redis, hub.hub.settings.redis_cluster
    red, unknown = os.urandom(16), os.urandom(16)
    event = StatusEvent(sub=red, colour=Colour.RED, sv=3, at=NOW)
    use = NonceUse.new(IssuerCode(GD), os.urandom(16), ttl=60)
    assert await StatusStore(redis).apply(1, [event], use) == 1
    lookups = LookupCoalescer(redis, deadline=2.0, cluster=cluster)
    valid, unseen = hashlib.sha256(b"valid").digest(), hashlib.sha256(b"unseen").digest()
    try:
        lookups.remember_valid([(valid, 100)])
        facts = await lookups.read(
            [
                (IssuerCode(GD), red, valid),
                (IssuerCode(BJ), red, unseen),  # the same pseudonym under another issuer
                (IssuerCode(GD), unknown, None),  # outcome known locally: not asked
            ]
        )
    finally:
        await lookups.close()
    assert facts.statuses == [Status(Colour.RED, 3), None, None]
    assert facts.outcomes == [True, None, None]
    assert facts.registry == (await hub.hub.trust._store.stamp())
