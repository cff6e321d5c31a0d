"""POST /introspect (RFC 7662) and POST /revoke (RFC 7009); both need client authentication."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mock_op_auth.call import Call
from mock_op_auth.config.schema import TokenAction
from mock_op_auth.core.bearer import TokenInfo
from mock_op_auth.core.clients import authenticate
from mock_op_auth.core.issuer import Env
from mock_op_auth.deps import server_of
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.base import NO_STORE, json_response
from mock_op_auth.errors import InvalidRequestError, InvalidTokenError
from mock_op_auth.runner import DialectErrors, Facts, run
from mock_op_auth.server import Server
from mock_op_auth.store import AccessToken


def _token_param(call: Call) -> str:
    """The ``token`` parameter; ``token_type_hint`` is optional and only a hint, so both kinds are searched."""
    token = call.form_param("token")
    if not token:
        raise InvalidRequestError("token is required")
    return token


class IntrospectHandler(DialectErrors):
    endpoint = "introspect"
    dialect = DIALECTS["rfc"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, str]:
        client = authenticate(call, env.config.clients, allow_public=False)
        return Facts(client.client_id), _token_param(call)

    def act(self, server: Server, token: str, env: Env, override: TokenAction | None) -> Response:
        return json_response(self._introspect(server, token, env), headers=NO_STORE)

    @staticmethod
    def _introspect(server: Server, token: str, env: Env) -> dict[str, Any]:
        try:
            info: TokenInfo = server.bearer.validate(token, server.issuers(env.issuer))
            return info.as_introspection()
        except InvalidTokenError:
            pass
        refresh = server.store.get_refresh(token)
        if refresh is None or refresh.expires_at <= server.clock.now():
            return {"active": False}
        grant = server.store.get_grant(refresh.grant_id)
        if grant is None or grant.revoked or grant.current_refresh != token:
            return {"active": False}
        return {"active": True, "token_type": "refresh_token", "client_id": grant.client_id,
                "scope": " ".join(grant.scope), "sub": grant.subject, "iat": refresh.issued_at,
                "exp": int(refresh.expires_at), "iss": env.issuer}


class RevokeHandler(DialectErrors):
    endpoint = "revoke"
    dialect = DIALECTS["rfc"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, tuple[str, str]]:
        client = authenticate(call, env.config.clients)
        return Facts(client.client_id), (client.client_id, _token_param(call))

    def act(self, server: Server, checked: tuple[str, str], env: Env, override: TokenAction | None) -> Response:
        client_id, token = checked
        refresh = server.store.get_refresh(token)
        if refresh is not None:
            if refresh.client_id == client_id:
                server.store.revoke_grant(refresh.grant_id)  # RFC 7009 §2.1: and its access tokens
            return Response(status_code=200, headers=NO_STORE)
        record = self._access_record(server, token, env)
        if record is not None and record.client_id == client_id:
            server.store.put_access(replace(record, revoked=True))
        return Response(status_code=200, headers=NO_STORE)  # unknown tokens too (RFC 7009 §2.2)

    @staticmethod
    def _access_record(server: Server, token: str, env: Env) -> AccessToken | None:
        if token.count(".") == 2:
            try:
                info = server.bearer.validate(token, server.issuers(env.issuer))
            except InvalidTokenError:
                return None
            return server.store.get_access(info.jti) if info.jti else None
        return server.store.get_access(token)


def build_router() -> APIRouter:
    router = APIRouter(tags=["oauth"])
    introspect, revoke = IntrospectHandler(), RevokeHandler()

    @router.post("/introspect", summary="Token introspection (RFC 7662)", response_model=None)
    async def introspection(request: Request) -> Any:
        return await run(server_of(request), request, introspect)

    @router.post("/revoke", summary="Token revocation (RFC 7009)", response_model=None)
    async def revocation(request: Request) -> Any:
        return await run(server_of(request), request, revoke)

    return router
