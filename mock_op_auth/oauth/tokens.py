"""TokenService: runs a token request through the grant its ``grant_type`` names.

The grant table is handed in by ``Server``, the composition root, so this module knows the RFC
grants only by their base class, and OP's grants plug in without the core importing them. A
path that takes DPoP (``POST /token``) has the proof verified here, for every grant, before the
grant's own checks (RFC 9449 §5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.errors import InvalidRequestError, UnauthorizedClientError, UnsupportedGrantTypeError
from mock_op_auth.oauth.clients import ClientAuthenticator
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.dpop import DpopVerifier
from mock_op_auth.oauth.grants import BaseGrant, TokenRequest
from mock_op_auth.oauth.issuer import IssuedTokens
from mock_op_auth.oauth.request import Call


class TokenService:
    def __init__(self, grants: Iterable[BaseGrant], clients: ClientAuthenticator,
                 dpop: DpopVerifier | None = None) -> None:
        self.grants: dict[str, BaseGrant] = {grant.grant_type: grant for grant in grants}
        self.clients = clients
        self.dpop = dpop

    def check(self, call: Call, env: Env, grant_type: str | None, allowed: tuple[str, ...],
              *, dpop: bool = False) -> TokenRequest:
        """Authenticate the client, pick the grant (one of ``allowed`` at this path), verify a DPoP
        proof (when ``dpop``: this path takes them), and check the request."""
        client = self.clients.authenticate(call, env.config.clients)
        if not grant_type:
            raise InvalidRequestError("grant_type is required")
        grant = self.grants.get(grant_type)
        if grant is None or grant_type not in allowed:
            raise UnsupportedGrantTypeError(f"unsupported grant_type {grant_type}")
        if grant_type not in client.client.grant_types:
            raise UnauthorizedClientError(f"this client may not use the {grant_type} grant")
        jkt = self.dpop.at_token_endpoint(call, client.client, env.server_config) if dpop and self.dpop else None
        req = grant.check(call, client, env)
        grant.check_dpop(req, jkt)
        if jkt:
            req = replace(req, dpop_jkt=jkt)
        if call.client_cert is not None and env.server_config.certificate_bound_tokens:
            req = replace(req, certificate_thumbprint=call.client_cert.x5t_s256)
        return req

    def act(self, req: TokenRequest, env: Env, override: TokenAction | None) -> IssuedTokens:
        return self.grants[req.grant_type].act(req, env, override)
