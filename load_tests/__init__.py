"""Load tests and benchmarks: figures reported as ratios to limits measured in the same run."""
