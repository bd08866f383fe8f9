"""Does a JSON value have the shape its ``TypedDict`` record declares? For the report tests.

``mismatches(value, Record)`` walks the value beside the record's type hints: every required
key present, no key the record does not declare, every value of its declared type (an int is
a float, a bool is neither; a JSON list stands for a tuple). It returns what differs, by path.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict


def mismatches(value: object, hint: Any, path: str = "$") -> list[str]:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any or hint is object:
        return []
    if origin in (Union, types.UnionType):
        tried = [mismatches(value, a, path) for a in args]
        return [] if any(not t for t in tried) else min(tried, key=len)
    if origin is typing.Literal:
        return [] if value in args else [f"{path}: {value!r} not one of {args}"]
    if is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not {hint.__name__}"]
        hints = get_type_hints(hint)
        out = [f"{path}: no {k!r}" for k in sorted(hint.__required_keys__ - value.keys())]
        out += [f"{path}: {k!r} not in {hint.__name__}" for k in sorted(value.keys() - hints)]
        for k in value.keys() & hints.keys():
            out += mismatches(value[k], hints[k], f"{path}.{k}")
        return out
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, list | tuple):
            return [f"{path}: {type(value).__name__}, not a list"]
        if origin is tuple and args and args[-1] is not Ellipsis:  # a fixed tuple: (str, float)
            if len(value) != len(args):
                return [f"{path}: {len(value)} items, not {len(args)}"]
            return [m for i, (v, a) in enumerate(zip(value, args, strict=True))
                    for m in mismatches(v, a, f"{path}[{i}]")]  # fmt: skip
        return [m for i, v in enumerate(value) for m in mismatches(v, args[0], f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a dict"]
        return [m for k, v in value.items() for m in mismatches(v, args[1], f"{path}[{k!r}]")]
    if hint is type(None):
        return [] if value is None else [f"{path}: {value!r}, not None"]
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    return [] if ok else [f"{path}: {value!r} is not {getattr(hint, '__name__', hint)}"]
