"""aiohttp adapters: the route table, handlers, middleware, auth, the OpenAPI document."""
