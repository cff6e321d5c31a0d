"""The Dialect protocol: how one family of endpoints reads a token request, shapes a token
response and renders errors. Grants, client auth, stores and keys are shared; a dialect is
only wire format. To add one: a module with a class satisfying ``Dialect``, registered in
``DIALECTS`` (``dialects/__init__``), and the routes that use it.
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, RedirectResponse, Response

from mock_op_auth.call import Call
from mock_op_auth.config.schema import ServerConfig
from mock_op_auth.core.issuer import IssuedTokens, TokenShape
from mock_op_auth.errors import OAuthError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REALM = "mock-op-auth"


class Dialect(Protocol):
    name: str

    def grant_type(self, call: Call) -> str | None: ...
    def shape(self, server: ServerConfig) -> TokenShape: ...
    def token_response(self, issued: IssuedTokens) -> Response: ...
    def render_error(self, err: OAuthError) -> Response: ...


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json", headers=headers)


def quote_header(value: str) -> str:
    """A value safe inside a quoted-string of WWW-Authenticate (RFC 7235 §2.2)."""
    return "".join(c for c in value if c >= " " and c not in '"\\' and ord(c) < 127)


def redirect_with(uri: str, params: dict[str, str], mode: str = "query") -> Response:
    """Send the user agent back to the client with ``params`` (RFC 6749 §4.1.2, OAuth response modes)."""
    encoded = urlencode({k: v for k, v in params.items() if v is not None})
    if mode == "fragment":
        target = f"{uri.split('#')[0]}#{encoded}"
    else:
        target = f"{uri}{'&' if '?' in uri else '?'}{encoded}"
    return RedirectResponse(target, status_code=302, headers=NO_STORE)


def authorize_error(err: OAuthError, issuer: str) -> Response:
    """An authorize error: back to the client when its redirect URI is trusted, else a page (§4.1.2.1)."""
    if err.redirect is not None:
        return redirect_with(err.redirect.uri, {
            "error": err.code, "error_description": err.description or None,
            "state": err.redirect.state, "iss": issuer,
        }, err.redirect.response_mode)
    return error_page(err)


def error_page(err: OAuthError) -> Response:
    from html import escape

    body = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Authorization error</title></head>"
            f"<body><main><h1>Authorization error</h1><p><strong>{escape(err.code)}</strong></p>"
            f"<p>{escape(err.description)}</p></main></body></html>")
    status = err.status if err.status >= 400 else 400
    return HTMLResponse(body, status_code=status if status != 401 else 400, headers=NO_STORE)
