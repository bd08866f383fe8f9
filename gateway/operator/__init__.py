"""The operator views: what /metrics and the dashboard show, and how it is worked out.

Owns the dashboard's figures (``figures``: rates over a window, percentiles from histogram
buckets, the red-spike rule, error answers by status; pure, with the clock passed in), the map
of the 32 issuers (``tiles``), and the work before an answer (``views``: refresh the gauges of
shared state through the services' Redis probe and trust keeper, then read the metrics).

May import the services, ``gateway.metrics``, ``gateway.errors`` and the core; never the web
layer, the store, aiohttp or redis (the import-linter contracts in pyproject.toml): the HTTP
adapters and the page are ``gateway.web.dashboard`` and ``gateway/web/static/``.
"""
