"""The pure core of HCM/1 (SPEC §2–§4, §6).

Nothing in this package does I/O, awaits, logs or reads a clock: ``now`` is passed in. It turns
bytes into frozen value objects or verdicts, and that is all. import-linter enforces it.
"""
