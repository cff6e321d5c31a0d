"""GET/POST /authorize (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) and the login page's form posts.

Both go through the runner as endpoint ``authorize``, so scenarios and the journal see the page's
answers too: a rule matching ``user`` acts on the user chosen on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mock_op_auth.call import Call
from mock_op_auth.config.schema import TokenAction
from mock_op_auth.core.authorize import AuthorizeRequest, PendingRequest
from mock_op_auth.core.issuer import Env
from mock_op_auth.deps import server_of
from mock_op_auth.dialects import DIALECTS, Dialect
from mock_op_auth.dialects.base import authorize_error, redirect_with
from mock_op_auth.errors import InvalidRequestError, OAuthError
from mock_op_auth.pages import Pages
from mock_op_auth.runner import Facts, run
from mock_op_auth.server import Server

DECISION_PATH = "/authorize/decision"


class AuthorizeHandler:
    endpoint = "authorize"

    def __init__(self, dialect: Dialect, pages: Pages) -> None:
        self.dialect = dialect
        self.pages = pages

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, AuthorizeRequest]:
        req = server.authorizer.check(call, env)
        return Facts(req.client_id, None, req.scope, req.user, req.redirect), req

    def act(self, server: Server, checked: AuthorizeRequest, env: Env, override: TokenAction | None) -> Response:
        if server.authorizer.needs_page(checked.prompt, env):
            return self.pages.login(server.authorizer.begin(checked), env.config, DECISION_PATH)
        result = server.authorizer.act(checked, env, override)
        return redirect_with(result.uri, result.params, result.response_mode)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return authorize_error(err, issuer)


@dataclass(frozen=True)
class Decision:
    """A verified answer from the login page: the approved request, or None when denied."""

    pending: PendingRequest
    approved: AuthorizeRequest | None


class DecisionHandler:
    """POST /authorize/decision: the user's Approve or Deny on the login page (CSRF-checked, single use)."""

    endpoint = "authorize"

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Decision]:
        if call.method != "POST" or call.content_type != "application/x-www-form-urlencoded":
            raise InvalidRequestError("the login form is posted as application/x-www-form-urlencoded")
        form = call.form_dict()
        pending = server.authorizer.pending(form.get("request_id"), form.get("csrf_token"))
        req = pending.request
        decision = form.get("decision")
        if decision == "deny":
            return Facts(req.client_id, None, req.scope, req.user, req.redirect), Decision(pending, None)
        if decision != "approve":
            raise InvalidRequestError("decision must be approve or deny")
        approved = server.authorizer.approved(pending, form.get("user") or None, form.get("subject"), env)
        return Facts(req.client_id, None, req.scope, approved.user, req.redirect), Decision(pending, approved)

    def act(self, server: Server, checked: Decision, env: Env, override: TokenAction | None) -> Response:
        result = server.authorizer.finish(checked.pending, checked.approved, env, override)
        return redirect_with(result.uri, result.params, result.response_mode)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return authorize_error(err, issuer)


def build_router() -> APIRouter:
    router = APIRouter(tags=["oauth"])
    pages = Pages()
    handler = AuthorizeHandler(DIALECTS["rfc"], pages)
    decision = DecisionHandler(DIALECTS["rfc"])

    # One route per method: a multi-method route gives OpenAPI one operation id twice.
    spec: dict[str, Any] = {"summary": "Authorization endpoint (RFC 6749 §3.1)", "response_model": None,
                            "response_class": Response,
                            "responses": {200: {"description": "the login page (login: page, or prompt=login)"},
                                          302: {"description": "back to the client's redirect_uri"},
                                          400: {"description": "an error page: unknown client or redirect_uri"}}}

    @router.get("/authorize", **spec)
    @router.post("/authorize", **spec)
    async def authorize(request: Request) -> Any:
        return await run(server_of(request), request, handler)

    @router.post(DECISION_PATH, summary="The login page's Approve or Deny", response_model=None,
                 response_class=Response,
                 responses={302: {"description": "back to the client with a code, or with access_denied"},
                            400: {"description": "an error page: bad CSRF token, unknown or used request"}})
    async def decide(request: Request) -> Any:
        return await run(server_of(request), request, decision)

    return router
