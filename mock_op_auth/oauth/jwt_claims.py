"""The registered claims every JWT a client signs is checked on (RFC 7519 §4.1): whom it is for
(``aud``) and when it holds (``exp``, ``nbf``) by the mock clock.

Client assertions (RFC 7523 §3), bearer assertions (RFC 7523 §2.1) and OP's request objects and
exemption assertions each word their refusal in their own error; they share these rules, so a
string ``exp``, a ``true`` timestamp or an ``aud`` list are judged alike everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, Literal

Fault = Literal["exp_missing", "exp_not_number", "expired", "not_yet_valid"]


def is_time(value: object) -> bool:
    """A NumericDate (RFC 7519 §2): a finite number; ``true`` is none though Python counts it as 1,
    and NaN is none as it compares false with every time and so would pass every window."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def names_audience(claims: Mapping[str, Any], accepted: Collection[str]) -> bool:
    """Whether ``aud`` (a string or a list, RFC 7519 §4.1.3) names one of ``accepted``; a trailing
    ``/`` is ignored, as clients write the issuer both ways."""
    aud = claims.get("aud")
    named = aud if isinstance(aud, list) else [aud]
    return any(isinstance(a, str) and a.rstrip("/") in accepted for a in named)


def lifetime_fault(claims: Mapping[str, Any], now: float, *, require_exp: bool = True) -> Fault | None:
    """What is wrong with ``exp``/``nbf`` at ``now``, or None. ``require_exp=False``: an ``exp`` is
    checked only when present (OP's exemption assertions carry none)."""
    exp = claims.get("exp")
    if exp is not None or require_exp:
        if not is_time(exp):
            return "exp_missing" if exp is None else "exp_not_number"
        if exp <= now:
            return "expired"
    nbf = claims.get("nbf")
    if is_time(nbf) and nbf > now:
        return "not_yet_valid"
    return None
