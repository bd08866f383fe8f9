"""The benchmark of record: limits, peers and the gateway measured in one run → BENCHMARKS.md.

It drives the gateway through the harness (``load_tests``) and the processes it starts; of the
gateway's code it imports only what it measures in process or starts: ``micro`` the core,
``gunicorn_app`` the app, ``run`` the embedded Redis, ``hub`` one key pattern. Its JSON
document's sections are TypedDicts in ``document``.
"""
