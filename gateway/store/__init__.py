"""Everything that talks to Redis, and the only package that knows its formats.

Owns the key names and hash tags (``keys``), the Lua scripts (``scripts``), the trust registry
(``registry``), statuses and their marks (``status``), the one-round-trip lookup of a request's
registry stamp, statuses, cached outcomes and rate charge (``lookup``), leases with invalidation
(``invalidation``), the connection (``connection``), what a Redis error means (``failures``), the
durability check and its refusal (``durability``), and the embedded server (``embedded``).

May import the core (``gateway.core``) and ``gateway.errors``; never the
services, the operator views, the composition root or the web layer (import-linter's layers).
"""
