"""Orchestration: the services that own the order of local cache, Redis, core and metrics.

Owns verification (``verification``: local cache → one Redis lookup → core → cache writes), the
management writes (``management``), which trust snapshot and signed list a worker serves
(``trust``), the per-client rate (``rates``), the worker's local cache (``local_cache``), the Redis
probe behind ``/readyz`` and the operator views (``health``) and the verifier clients by token
digest (``clients``).

May import the store, the core, ``gateway.errors``, ``gateway.config`` and ``gateway.metrics``;
never the operator views, the composition root or the web layer (import-linter's layers). Redis
formats stay in the store: a service asks it typed questions.
"""
