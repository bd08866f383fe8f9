"""aiohttp adapters: handlers, middleware, auth, the OpenAPI document."""
