"""GET discovery (OIDC Discovery 1.0 §4, RFC 8414), the protected-resource metadata (RFC 9728 §3)
and the JWKS (RFC 7517): read-only documents, still run through the engine and the journal so a
scenario can break or slow them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.responses import json_response
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.discovery import metadata, resource_metadata
from mock_op_auth.oauth.request import Call
from mock_op_auth.server import Server

CACHE = {"Cache-Control": "public, max-age=60"}
Document = Callable[[Server, str], dict[str, Any]]


class DocumentHandler(BaseHandler[None]):
    """A JSON document built from the server and the issuer the request is answered as."""

    dialect = DIALECTS["rfc"]

    def __init__(self, endpoint: str, build: Document) -> None:
        self.endpoint = endpoint
        self.build = build

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, None]:
        return Facts(), None

    def act(self, server: Server, checked: None, env: Env, override: TokenAction | None) -> Response:
        return json_response(self.build(server, env.issuer), headers=CACHE)


def discovery_document(server: Server, issuer: str) -> dict[str, Any]:
    return metadata(server.config, server.keys.alg, issuer, mtls=server.mtls)


def resource_metadata_document(server: Server, issuer: str) -> dict[str, Any]:
    return resource_metadata(server.config, issuer)


def jwks_document(server: Server, issuer: str) -> dict[str, Any]:
    return server.keys.jwks()
