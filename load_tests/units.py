"""Quantities as people type them and as the reports print them.

Reading: a duration may be bare (seconds, like ``--duration 10``); a latency must carry its
unit, since ``--max-p99 5`` could mean 5 ms or 5 s and guessing wrong silently passes a run.
Printing: latency in milliseconds with three significant digits everywhere (µs only in the
JSON, whose names say so), rates per second, shares in %, data in SI bytes (k6's habit). No
printed number has more than three decimals, and none is in scientific notation.
"""

from __future__ import annotations

import argparse
import math
import re

_SECONDS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "": 1.0}
_QUANTITY = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(us|µs|ms|s|m|)\s*")


def duration(text: str) -> float:
    """``10s``, ``500ms``, ``2m`` or a bare number of seconds → seconds."""
    m = _QUANTITY.fullmatch(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration like 10s, 500ms or 2m")
    return float(m.group(1)) * _SECONDS[m.group(2)]


def latency(text: str) -> float:
    """``5ms``, ``800us``, ``1s`` → seconds; a bare number is refused."""
    m = _QUANTITY.fullmatch(text)
    if not m or m.group(2) in ("", "m"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a latency needs its unit, e.g. {text.strip() or '5'}ms, 500us or 1s"
        )
    return float(m.group(1)) * _SECONDS[m.group(2)]


def share(text: str) -> float:
    """``0.1%`` or ``0.001`` → 0.001."""
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a share within 0..1 or 0%..100%")
    return value


def sig3(x: float) -> str:
    """Three significant digits, thousands grouped, at most three decimals: 0.551, 50.4, 1,234."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    decimals = max(0, min(3, 2 - math.floor(math.log10(abs(x)))))
    text = f"{x:,.{decimals}f}"
    if decimals and float(text.replace(",", "")) >= 10 ** (3 - decimals):
        text = f"{x:,.{decimals - 1}f}" if decimals > 1 else f"{x:,.0f}"  # 9.996 → 10.0
    return text


def ms(us: float | None) -> str:
    """A latency in µs, printed in ms without the unit (for table columns)."""
    return "-" if us is None else sig3(us / 1000)


def ms_unit(us: float | None) -> str:
    return "-" if us is None else f"{sig3(us / 1000)} ms"


def ms_limit(us: float) -> str:
    """A limit in ms as a person types it: 5000 µs → ``5 ms``, 100 µs → ``0.1 ms``."""
    text = sig3(us / 1000)
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " ms"


def rate(per_s: float | None) -> str:
    return "-" if per_s is None else f"{sig3(per_s)}/s"


def pct(x: float | None) -> str:
    """A share as a percentage: ``0.937`` → ``93.7 %``; ``0`` → ``0 %``."""
    if x is None:
        return "-"
    value = x * 100
    if value == 0 or value == 100:
        return f"{value:.0f} %"
    if value >= 0.1:
        return f"{value:.1f}".removesuffix(".0") + " %"
    return f"{sig3(value)} %"


def core(x: float) -> str:
    """A share of one CPU core: ``0.18`` → ``18 % of a core``."""
    return f"{x * 100:.0f} % of a core"


def data(n_bytes: float) -> str:
    """SI bytes, as k6 prints them: 36 kB, 1.23 MB."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            return f"{sig3(n_bytes / size)} {unit}"
    return f"{n_bytes:.0f} B"


def count(n: int) -> str:
    return f"{n:,}"
