"""JSON that arrives from outside (request bodies, the header and payload of a JWT), read in
one place so that what the rest of the mock holds is always JSON it can write back.

Python's parser recurses once per level: a body of a few thousand ``[`` ends in a RecursionError
(a 500) in ``json.loads`` or wherever the value is walked later. ``parse_json`` refuses JSON
nested deeper than ``MAX_JSON_DEPTH`` first, from a linear scan of the brackets outside strings.

It also refuses what ``json.loads`` accepts but RFC 8259 does not: ``NaN``/``Infinity`` (and
numbers too large for a float, which become infinity), and ``\ud800``-style escapes of a lone
surrogate, a string no UTF-8 response, page or store can hold. Either would be accepted once and
then fail every response that echoes it (a journal, a token claim, a dashboard page).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 64  # nested arrays and objects: far past any real body, far below the recursion limit


class JsonInputError(ValueError):
    """JSON refused for what it holds, not for its syntax; the message says what and is safe to show."""


class JsonNestingError(JsonInputError):
    """JSON nested deeper than ``MAX_JSON_DEPTH``, refused before it is parsed."""


# A JSON string, its closing quote optional so that an unterminated one ends the scan instead of
# being tried again from every quote inside it (which would be quadratic).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _no_constant(name: str) -> float:
    raise JsonInputError(f"{name} is not a JSON number")


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JsonInputError(f"the number {literal[:40]} is too large")
    return value


def _text_problem(value: str) -> str | None:
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "a string holds a lone surrogate (\\ud800 to \\udfff): not text"
    return None


def value_problem(value: Any) -> str | None:
    """What makes ``value`` (parsed JSON or YAML) impossible to write back as JSON text: a number
    that is not finite, or a string (a member name too) holding a lone surrogate; None if nothing.
    Walks without recursion, each container once (YAML aliases share, and may loop)."""
    pending, seen = [value], set()
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{item} is not a JSON number"
        elif isinstance(item, dict | list) and id(item) not in seen:  # alive in value: ids stay unique
            seen.add(id(item))
            pending.extend([*item.keys(), *item.values()] if isinstance(item, dict) else item)
    return None


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) < len(pairs):
        twice = next(name for i, (name, _) in enumerate(pairs) if name in (n for n, _ in pairs[:i]))
        raise JsonInputError(f"duplicate key {twice!r}")
    return value


def parse_json(data: bytes | str, *, unique_keys: bool = False) -> Any:
    """``json.loads`` of ``data``, nested at most ``MAX_JSON_DEPTH`` deep, finite numbers and
    Unicode text only; with ``unique_keys`` (files people write), a member named twice in one
    object is refused rather than the last kept. Raises ValueError: ``JsonInputError`` (the
    message can be shown), or ``json.JSONDecodeError``/``UnicodeDecodeError`` for what is not JSON."""
    text = data.decode(json.detect_encoding(data), "surrogatepass") if isinstance(data, bytes) else data
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_JSON_DEPTH:
        raise JsonNestingError(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
    value = json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                       object_pairs_hook=_unique if unique_keys else None)
    if not text.isascii() or "\\u" in text:  # else no string can hold a surrogate
        problem = value_problem(value)
        if problem:
            raise JsonInputError(problem)
    return value
