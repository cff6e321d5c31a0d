"""GET/POST /authorize (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) and the login page's form posts.

Both go through the runner as endpoint ``authorize``, so scenarios and the journal see the page's
answers too: a rule matching ``user`` acts on the user chosen on the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import Dialect
from mock_op_auth.dialects.responses import authorize_error, redirect_with
from mock_op_auth.errors import InvalidRequestError, OAuthError
from mock_op_auth.http.pages import Pages
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.authorize import AuthorizeRequest, PendingRequest, RedirectResult
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.request import FORM_TYPE, Call
from mock_op_auth.oauth.sessions import set_cookie_header
from mock_op_auth.server import Server

DECISION_PATH = "/authorize/decision"


def redirect_back(result: RedirectResult, env: Env) -> Response:
    """The redirect to the client; a login that started a session also sets its cookie."""
    response = redirect_with(result.uri, result.params, result.response_mode)
    if result.session is not None:
        response.headers.append("set-cookie", set_cookie_header(result.session, env.issuer,
                                                                env.server_config.session_ttl))
    return response


class AuthorizeHandler(BaseHandler[AuthorizeRequest]):
    endpoint = "authorize"

    def __init__(self, dialect: Dialect, pages: Pages) -> None:
        self.dialect = dialect
        self.pages = pages

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, AuthorizeRequest]:
        req = server.authorizer.check(call, env)
        return Facts(req.client_id, None, req.scope, req.user, req.redirect), req

    def act(self, server: Server, checked: AuthorizeRequest, env: Env, override: TokenAction | None) -> Response:
        server.authorizer.use_pushed(checked)
        if server.authorizer.shows_page(checked, env):
            return self.pages.login(server.authorizer.begin(checked), env.config, server.local_path(DECISION_PATH))
        return redirect_back(server.authorizer.act(checked, env, override), env)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return authorize_error(err, issuer)


@dataclass(frozen=True)
class Decision:
    """A verified answer from the login page: the approved request, or None when denied."""

    pending: PendingRequest
    approved: AuthorizeRequest | None


class DecisionHandler(BaseHandler[Decision]):
    """POST /authorize/decision: the user's Approve or Deny on the login page (CSRF-checked, single use)."""

    endpoint = "authorize"

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Decision]:
        if call.method != "POST" or call.content_type != FORM_TYPE:
            raise InvalidRequestError("the login form is posted as application/x-www-form-urlencoded")
        if call.cross_site:
            raise InvalidRequestError("the login form is answered from its own page, not from another site")
        form = call.form_dict()
        pending = server.authorizer.pending(form.get("request_id"), form.get("csrf_token"))
        if not self.answers(pending):
            raise InvalidRequestError("this login request is answered on its own login page, not here")
        req = pending.request
        decision = form.get("decision")
        if decision == "deny":
            return Facts(req.client_id, None, req.scope, req.user, req.redirect), Decision(pending, None)
        if decision != "approve":
            raise InvalidRequestError("decision must be approve or deny")
        approved = server.authorizer.approved(pending, form.get("user") or None, form.get("subject"), env)
        return Facts(req.client_id, None, req.scope, approved.user, req.redirect), Decision(pending, approved)

    @staticmethod
    def answers(pending: PendingRequest) -> bool:
        """Whether this path answers ``pending``: a plain OAuth request, not a PSD2 one (an intent's)."""
        return "authorizationId" not in pending.request.extra_claims

    def act(self, server: Server, checked: Decision, env: Env, override: TokenAction | None) -> Response:
        return redirect_back(server.authorizer.finish(checked.pending, checked.approved, env, override), env)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return authorize_error(err, issuer)
