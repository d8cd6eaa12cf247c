"""The standard library's JSON, the same values and bytes, by faster parsers wherever they agree.

The hot paths decode a bus reply and encode an HTTP answer on every request:

- decoding, pydantic-core's parser (``from_json``) gives what ``json.loads`` gives (integers
  beyond 64 bits, ``NaN``, duplicate keys alike) in a third of the time, and refuses the rest
  (lone surrogates, a byte-order mark, UTF-16 and UTF-32), which the standard library then reads;
  orjson is not used here: it reads an integer beyond 64 bits as a float;
- encoding, orjson writes a float below 1e-4 or from 1e16 with another exponent (``1e-5`` for
  ``1e-05``), ``NaN`` as ``null``, and serialises types the standard library refuses
  (datetimes, dataclasses, enums, subclasses): it writes only values holding none of these.

So the result never differs from the standard library's: the same value, bytes or error.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from pydantic_core import from_json

# Floats orjson writes exactly as ``float.__repr__`` does (checked over millions of values).
_FLOAT_LOW, _FLOAT_HIGH = 1e-4, 1e16
_LEAVES = frozenset({str, int, bool, type(None)})


def loads(data: bytes) -> Any:
    """``json.loads(data)``: the same value, or the same error."""
    try:
        return from_json(data, cache_strings="keys")  # only keys: no token lingers in its cache
    except ValueError:
        return json.loads(data)


def dumps_compact(value: Any) -> bytes:
    """What Starlette's ``JSONResponse`` writes: ``json.dumps(value, ensure_ascii=False,
    allow_nan=False, separators=(",", ":"))`` encoded as UTF-8; the same bytes, or the same error."""
    if _plain(value):
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:  # a lone surrogate, an integer beyond 64 bits
            pass
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def _plain(value: Any) -> bool:
    """Only what both libraries write alike: dicts with ``str`` keys, lists, strings, integers,
    booleans, ``None`` and floats in orjson's exact range (exact types: no subclass). A loop,
    not a recursion: the walk is on every answer."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind in _LEAVES:
            continue
        if kind is dict:
            for key, inner in item.items():
                if type(key) is not str:
                    return False
                if type(inner) not in _LEAVES:
                    pending.append(inner)
        elif kind is list:
            for inner in item:
                if type(inner) not in _LEAVES:
                    pending.append(inner)
        elif kind is not float or not (item == 0.0 or _FLOAT_LOW <= abs(item) < _FLOAT_HIGH):
            return False
    return True
