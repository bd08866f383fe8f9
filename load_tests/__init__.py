"""Load tests and benchmarks: figures reported as ratios to limits measured in the same run.

Four rooms and perf/'s scripts, each with what it may import (import-linter contracts in
pyproject.toml):

- the harness, every top-level module (runner, generator, schedule, workload, its own HTTP
  client, histograms, verdict, report, table, plot, crosscheck, selftest, ...): drives a hub over
  HTTP from a corpus; it never imports the gateway's code, the benchmark or the in-process code,
  and starts processes (``processes``) instead, the gateway's through its launcher
  (``gateway.launch``, which imports nothing of the gateway but its process protocol). ``args``
  holds the argument types, ``cli`` lists the subcommands, each of which registers itself.
  ``records``: the run report's sections as TypedDicts (the report is JSON end to end).
- ``bench/``: the benchmark of record (BENCHMARKS.md). It may import the harness, the fixture, the
  in-process code, and a few of the gateway's parts: its core for the raw limits
  (``bench.micro``), its app under gunicorn, its embedded Redis and one key pattern.
- ``inprocess/``: in-process introspection of the gateway (``layers``, ``status_memory``); the
  only room that may import any of the gateway.
- ``cluster``: a fixture the tests import too, a local Redis Cluster of embedded servers.
- ``perf/``: micro-benchmarks of the gateway's hot paths, scripts run by hand by path
  (``python load_tests/perf/hotpath.py``); they import the gateway they measure and no more.
"""
