"""Scope (RFC 6749 §3.3): parsing a space-delimited scope and the one check every grant,
authorization request and minted token makes, that a client asks only for its own scopes."""

from __future__ import annotations

from collections.abc import Collection

from mock_op_auth.errors import InvalidScopeError, OAuthError


def parse_scope(raw: str | None) -> tuple[str, ...] | None:
    """The scopes of a ``scope`` parameter in order, each once; None when the parameter is absent."""
    if raw is None:
        return None
    return tuple(dict.fromkeys(raw.split()))


def check_allowed(scope: tuple[str, ...], allowed: Collection[str], *, what: str = "this client",
                  error: type[OAuthError] = InvalidScopeError) -> None:
    """Raise ``error`` naming every requested scope outside ``allowed``."""
    if unknown := [s for s in scope if s not in allowed]:
        raise error(f"scope not allowed for {what}: {' '.join(unknown)}")
