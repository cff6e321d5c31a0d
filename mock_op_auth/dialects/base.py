"""The Dialect protocol: how one family of endpoints reads a token request, shapes a token
response and renders errors."""

from __future__ import annotations

from typing import Protocol

from starlette.responses import Response

from mock_op_auth.config.schema import ServerConfig
from mock_op_auth.errors import OAuthError
from mock_op_auth.oauth.context import TokenShape
from mock_op_auth.oauth.issuer import IssuedTokens
from mock_op_auth.oauth.request import Call


class Dialect(Protocol):
    """One wire format over the shared grants, clients, stores and keys.

    To add one: a module in ``dialects/`` with a class satisfying this protocol, registered in
    ``DIALECTS`` (``dialects/__init__``), and the routes in ``app.ROUTES`` whose handlers use it.
    ``shape`` says how its tokens look (JWT or opaque, lengths, lifetimes); ``token_response``
    and ``render_error`` are its bytes on the wire.
    """

    name: str

    def grant_type(self, call: Call) -> str | None: ...
    def shape(self, server_config: ServerConfig) -> TokenShape: ...
    def token_response(self, issued: IssuedTokens) -> Response: ...
    def render_error(self, err: OAuthError) -> Response: ...
