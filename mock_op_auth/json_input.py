"""JSON that arrives from outside (request bodies, the header and payload of a JWT), read in
one place so that its nesting is bounded everywhere.

Python's parser recurses once per level: a body of a few thousand ``[`` ends in a RecursionError
(a 500) in ``json.loads`` or wherever the value is walked later. ``parse_json`` refuses JSON
nested deeper than ``MAX_JSON_DEPTH`` first, from a linear scan of the brackets outside strings.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 64  # nested arrays and objects: far past any real body, far below the recursion limit


class JsonNestingError(ValueError):
    """JSON nested deeper than ``MAX_JSON_DEPTH``, refused before it is parsed."""


# A JSON string, its closing quote optional so that an unterminated one ends the scan instead of
# being tried again from every quote inside it (which would be quadratic).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def parse_json(data: bytes | str) -> Any:
    """``json.loads`` of ``data``, nested at most ``MAX_JSON_DEPTH`` deep. Raises ValueError:
    ``JsonNestingError``, or ``json.JSONDecodeError``/``UnicodeDecodeError`` for what is not JSON."""
    text = data.decode(json.detect_encoding(data), "surrogatepass") if isinstance(data, bytes) else data
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_JSON_DEPTH:
        raise JsonNestingError(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    return json.loads(text)
