"""The admin token (``MOCK_OP_AUTH_ADMIN_TOKEN``): with it set, the control API needs it as a
bearer token, and the dashboard as a bearer token or as HTTP Basic's password (any user name),
so a browser can prompt for it."""

from __future__ import annotations

import base64
import binascii

from fastapi import HTTPException, Request

from mock_op_auth.http.deps import ServerDep
from mock_op_auth.oauth.clients import secrets_equal


def admin_given(authorization: str, expected: str, *, basic: bool) -> bool:
    """Whether an ``Authorization`` header carries the admin token (constant-time)."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return bool(value.strip()) and secrets_equal(value.strip(), expected)
    if basic and scheme.lower() == "basic":
        try:  # a browser's Basic password is sent as typed, not form-urlencoded as a client secret is
            _, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets_equal(password, expected)
    return False


def require_admin(request: Request, server: ServerDep) -> None:
    """The control API's guard: ``Authorization: Bearer <admin token>``."""
    expected = server.settings.admin_token
    if expected and not admin_given(request.headers.get("authorization", ""), expected, basic=False):
        raise HTTPException(401, "the control API needs the admin token",
                            headers={"WWW-Authenticate": 'Bearer realm="mock-op-auth control"'})


def require_ui_admin(request: Request, server: ServerDep) -> None:
    """The dashboard's guard: the admin token as a bearer token or as the Basic password."""
    expected = server.settings.admin_token
    if expected and not admin_given(request.headers.get("authorization", ""), expected, basic=True):
        # A browser answers Basic by asking for a password: give the admin token, with any user name.
        raise HTTPException(401, "the dashboard needs the admin token (as the Basic password, any user name)",
                            headers={"WWW-Authenticate": 'Basic realm="mock-op-auth dashboard", charset="UTF-8"'})
