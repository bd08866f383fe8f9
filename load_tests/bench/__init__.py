"""The benchmark of record: limits, peers and the gateway measured in one run → BENCHMARKS.md."""
