"""Everything that talks to Redis: key names, registry, status, caches, rate buckets, the embedded
redis-server."""
