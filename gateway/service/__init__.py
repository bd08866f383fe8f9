"""Orchestration: the services that own the order of cache, Redis, core and metrics."""
