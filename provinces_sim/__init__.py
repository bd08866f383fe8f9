"""provinces_sim: the 31 provinces and the XPCC as independent issuers, their residents and
travellers, the verifier clients that scan them, and an oracle that checks every verdict.

The simulator talks to the hub only over HTTP, as SPEC.md describes; it has its own encoder
for envelopes, codes and management messages (``wire``, ``crypto``) and never imports
``gateway`` (an import-linter contract in pyproject.toml keeps it so). That independence is
what makes it a test of the gateway rather than a mirror of it. Two exceptions, each one import
written into that contract: the scanning terminals' offline verifier (``scanning``, SPEC §6, as
a real terminal would use it), and the demo's hub, started as a program through the gateway's
launcher (``hubproc`` imports ``gateway.launch``, which imports nothing of the gateway).

Layout, bottom up: ``census`` and ``people`` (the world's facts), ``crypto`` and ``wire`` (the
bytes), ``issuer`` (a province as an issuer: keys, pseudonyms, codes, messages), ``keystore``,
``world``, ``gravity``; then the hub side: ``errors``, ``hub`` (HTTP), ``statuslog`` (seq, mark
and resend), ``keylife``, ``oracle``, ``forgery``; then the runs: ``epidemic``, ``scenario``,
``tally``, ``burst``, ``hubproc``, ``opconfig``, ``corpus``, ``prime``, ``demo`` and ``cli``.
"""
