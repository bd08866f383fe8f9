"""aiohttp adapters: the route table, handlers, middleware, body limits, the OpenAPI document,
the listener's guards, and the app that serves the composition root's hub (``app``, ``hub``).

May import everything below it (``gateway.compose``, the operator views, the services, the
store, the core) and ``gateway.metrics``; never the worker, the supervisor or the command line
(import-linter's layers)."""
