"""Verdict rendering: the standard library's JSON against orjson and msgspec, on our shapes.

    .venv/bin/python load_tests/perf/render.py [--rounds 5]

orjson comes with the dev extra (``./run test`` installs it): it is
measured here, not used. Each line: µs per verdict (best of ``rounds`` timeit repeats), in
batches of 100 valid verdicts (all ten fields) and of 100 MALFORMED ones (two), JSON and msgpack.
"""

from __future__ import annotations

import argparse
import json
import os
import timeit
from typing import Any

import msgpack
import msgspec
import orjson  # measured, not used by the hub: in the dev extra

from gateway.core.model import MALFORMED, Colour, IssuerCode, KeyId, Verdict
from gateway.web.handlers import render_verdict
from gateway.web.verdicts import _Doc

try:  # this revision's own path, request to bytes (absent before issue 11)
    from gateway.web.verdicts import encode_verdicts
except ImportError:
    encode_verdicts = None  # type: ignore[assignment]


def verdicts() -> list[Verdict]:
    kid, green = KeyId(os.urandom(8)), Colour.GREEN
    return [
        Verdict(True, None, IssuerCode("440000"), kid, os.urandom(16), green, green, None,
                1_796_000_000, "张*")
        for _ in range(100)
    ]


Doc = _Doc  # the Struct the hub answers with, so the figure is the shipped one's


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    rounds = p.parse_args().rounds
    jenc, menc = msgspec.json.Encoder(), msgspec.msgpack.Encoder()
    for name, batch in (("valid", verdicts()), ("malformed", [MALFORMED] * 100)):
        docs = [render_verdict(v) for v in batch]
        structs = [Doc(**d) for d in docs]
        cases: dict[str, Any] = {
            "render dicts only": lambda b=batch: [render_verdict(v) for v in b],
            "json.dumps(dicts)": lambda d=docs: json.dumps(d),
            "orjson.dumps(dicts)": lambda d=docs: orjson.dumps(d),
            "msgspec.json(dicts)": lambda d=docs: jenc.encode(d),
            "msgspec.json(Structs)": lambda s=structs: jenc.encode(s),
            "msgpack.packb(dicts)": lambda d=docs: msgpack.packb(d, use_bin_type=True),
            "msgspec.msgpack(dicts)": lambda d=docs: menc.encode(d),
            "msgspec.msgpack(Structs)": lambda s=structs: menc.encode(s),
        }
        cases["hub before: dicts + json.dumps"] = lambda b=batch: json.dumps(
            [render_verdict(v) for v in b]
        )
        if encode_verdicts is not None:
            cases["hub: encode_verdicts, JSON"] = lambda b=batch: encode_verdicts(
                b, as_msgpack=False
            )
            cases["hub: encode_verdicts, msgpack"] = lambda b=batch: encode_verdicts(
                b, as_msgpack=True
            )
            assert json.loads(encode_verdicts(batch, as_msgpack=False)) == docs
            assert msgpack.unpackb(encode_verdicts(batch, as_msgpack=True)) == docs
        assert orjson.loads(orjson.dumps(docs)) == json.loads(json.dumps(docs))
        assert msgspec.json.decode(jenc.encode(docs)) == docs
        assert msgpack.unpackb(menc.encode(docs)) == msgpack.unpackb(msgpack.packb(docs))
        for label, fn in cases.items():
            best = min(timeit.repeat(fn, number=200, repeat=rounds)) / 200 / 100
            print(f"{name:<10} {label:<32} {best * 1e6:6.3f} µs/verdict")


if __name__ == "__main__":
    main()
