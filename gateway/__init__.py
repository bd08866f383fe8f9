"""The health-code mutual-recognition gateway (HCM/1 hub).

Packages, from the inside out (import-linter keeps the order, see pyproject.toml):

- ``gateway.core``: the pure contract. Decoding, signatures, the verification steps, management
  message rules. Nothing there does I/O or reads a clock.
- ``gateway.store``: Redis. Key names, the registry, status, caches, rate buckets, the embedded
  ``redis-server``.
- ``gateway.service``: orchestration. The one place that knows the order of local cache, Redis,
  core verify, status lookup, cache store and metrics.
- ``gateway.web``: aiohttp adapters: handlers, error rendering, auth, the OpenAPI document.

The gateway never imports ``provinces_sim`` or ``load_tests``.
"""
