"""Load tests and benchmarks for the gateway: they report ratios to limits measured in the same run."""
