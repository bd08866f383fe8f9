"""The hub process, ``hcgw serve``: what exists once per hub, around one worker or N of them.

``serve`` loads the hub's trust-list key (``gateway.keyfile``), starts the embedded Redis when no
``redis_url`` is set, and then either runs one worker in this process (``gateway.worker``) or the
supervisor of N workers (``gateway.supervisor``), which share one port through SO_REUSEPORT. Its
last log line says the hub stopped, with the exit status.

Imports the worker, the supervisor, the key file and the store's embedded server; nothing
imports it but the command line.
"""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.config import Settings
from gateway.handshake import REDIS_URL
from gateway.keyfile import load_or_create_hub_key
from gateway.store.embedded import EmbeddedRedis
from gateway.supervisor import Supervisor
from gateway.worker import Reload, run_worker

log = logging.getLogger("hcgw")


async def serve(
    settings: Settings, environ: dict[str, str], *, ready_file: Path | None, reload: Reload
) -> int:
    """Run the hub: the embedded Redis if no URL is set, then one worker or a supervisor."""
    hub_key = load_or_create_hub_key(Path(settings.trust_key))
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if not redis_url:
        embedded = EmbeddedRedis(Path(settings.data_dir) / "redis")
        await embedded.start()
        redis_url = embedded.url
        log.info("embedded Redis-protocol server pid %s at %s", embedded.pid, redis_url)
    try:
        if not settings.issuers:
            log.warning("no [[issuer]] is enrolled: every code will be UNKNOWN_ISSUER")
        if settings.workers == 1:
            await run_worker(
                settings, redis_url, hub_key, ready_file=ready_file, reload=reload, announce_as=1
            )
            code = 0
        else:
            supervisor = Supervisor(settings, {**environ, REDIS_URL: redis_url}, reload)
            code = await supervisor.run(ready_file)
    finally:
        if embedded is not None:
            await embedded.stop()
    log.info("hub stopped (exit %d)", code, extra={"fields": {"event": "stop", "exit": code}})
    return code
