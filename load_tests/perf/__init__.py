"""Micro-benchmarks of the gateway's hot paths (issue 11), each a script run by hand in one
process: ``.venv/bin/python load_tests/perf/hotpath.py hits`` (README.md in this directory lists
them). Run by path, not with ``-m``, so that ``PYTHONPATH=<another worktree>`` measures another
revision's gateway with the same script: they import nothing of ``load_tests``, only the gateway
they measure. None is a test, none asserts a time.
"""
