"""Offline verification for scanning terminals (SPEC §6): a held trust list, codes checked
against it as SPEC §3.1 does, without statuses.

    verifier   pure: the hub's pinned key, reading and checking a signed trust list, which
               list may replace which, its age, and the offline verdict (core's §3.1 steps)
    store      the terminal's directory: the pinned key and the held list, written atomically
    fetch      HTTP: GET /v1/trustlist/key and /v1/trustlist (standard library only)
    commands   ``hcgw trustlist fetch`` and ``hcgw verify --offline`` on top of the three

A terminal imports ``verifier`` alone when it has its own HTTP and storage (the simulator's
terminals do), or all of them through the commands. Nothing here imports the store, service or
web layers of the hub: an import-linter contract in pyproject.toml keeps it so, and keeps
``verifier`` free of I/O like the core it builds on.
"""
