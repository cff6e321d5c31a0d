"""How the bytes look, whatever the dialect: JSON bodies, redirects back to the client (the
query and fragment response modes), the authorization endpoint's error answers, and a
fixture's raw response. Every handler and dialect renders through these."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, RedirectResponse, Response

from mock_op_auth.config.schema import RawResponse
from mock_op_auth.errors import OAuthError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# every HTML page the mock serves: nothing external, no script, never framed (clickjacking)
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
REALM = "mock-op-auth"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json", headers=headers)


def raw_response(action: RawResponse) -> Response:
    """A response exactly as a fixture spells it (a rule's ``respond`` or a resource's ``response``)."""
    if action.text is not None:
        return Response(action.text, status_code=action.status, headers=action.headers, media_type="text/plain")
    if action.json_body is not None:
        return json_response(action.json_body, action.status, action.headers)
    return Response(b"", status_code=action.status, headers=action.headers)


def quote_header(value: str) -> str:
    """A value safe inside a quoted-string of WWW-Authenticate (RFC 7235 §2.2)."""
    return "".join(c for c in value if c >= " " and c not in '"\\' and ord(c) < 127)


def redirect_with(uri: str, params: dict[str, str], mode: str = "query") -> Response:
    """Send the user agent back to the client with ``params`` (RFC 6749 §4.1.2, OAuth response modes)."""
    encoded = urlencode({k: v for k, v in params.items() if v is not None})
    if not encoded:
        target = uri
    elif mode == "fragment":
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


def error_page(err: OAuthError, title: str = "Authorization error") -> Response:
    """The page a user sees when the client cannot be trusted with the error (never a redirect).

    Plain HTML rather than a template: it is rendered on error paths that must not load Jinja."""
    body = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title></head>"
            f"<body><main><h1>{escape(title)}</h1><p><strong>{escape(err.code)}</strong></p>"
            f"<p>{escape(err.description)}</p></main></body></html>")
    status = err.status if err.status >= 400 else 400
    return HTMLResponse(body, status_code=status if status != 401 else 400, headers=PAGE_HEADERS)
