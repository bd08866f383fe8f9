"""The health-code mutual-recognition gateway (HCM/1 hub).

Packages, from the inside out (import-linter keeps the order, see pyproject.toml):

- ``gateway.core``: the pure contract. Decoding, signatures, the verification steps, management
  message rules. Nothing there does I/O or reads a clock.
- ``gateway.store``: Redis. Key names, the registry, status, caches, rate buckets, the embedded
  ``redis-server``.
- ``gateway.service``: orchestration. The one place that knows the order of local cache, Redis,
  core verify, status lookup, cache store and metrics.
- ``gateway.operator``: the operator views: the dashboard's figures and map, the gauges' refresh.
- ``gateway.compose``: the composition root. Every object of one process, built once, and
  their life (``open_hub``); imports the packages listed before it, never the web layer.
- ``gateway.web``: aiohttp adapters: handlers, error rendering, the OpenAPI document, and the
  app that serves a hub from ``gateway.compose``.

Start-up, top down (a layers contract keeps it free of cycles): ``cli`` (``hcgw``), ``server``
(``serve``: the hub process, its embedded Redis), ``supervisor`` (N workers), ``worker`` (one
worker's life), then the web layer; ``keyfile`` reads or makes the trust-list key.
``handshake`` is the process protocol between them (ready files, a worker's environment,
refusals) and ``launch`` starts a hub as a child process for the tests, the load tests and the
simulator's demo: both import nothing else of the gateway, and this module imports nothing.

The gateway never imports ``provinces_sim`` or ``load_tests``.
"""
