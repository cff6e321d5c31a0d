"""GET/POST /logout: OpenID Connect RP-Initiated Logout 1.0 (``end_session_endpoint``), with
Back-Channel Logout 1.0 to the session's clients. Endpoint ``logout`` for scenarios and the journal;
the rules are ``oauth/logout.py``'s, the delivery ``http/backchannel.py``'s."""

from __future__ import annotations

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.responses import error_page, redirect_with
from mock_op_auth.errors import OAuthError
from mock_op_auth.http.backchannel import deliver
from mock_op_auth.http.pages import Pages
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.logout import LogoutRequest
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.sessions import set_cookie_header
from mock_op_auth.server import Server


class LogoutHandler(BaseHandler[LogoutRequest]):
    endpoint = "logout"
    dialect = DIALECTS["rfc"]

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, LogoutRequest]:
        req = server.logout.check(call, env, server.issuers(env.issuer))
        return Facts(req.client_id, None, (), req.user), req

    async def act(self, server: Server, checked: LogoutRequest, env: Env, override: TokenAction | None) -> Response:
        """End the sessions, tell their clients (waiting a bounded time), then send the browser back."""
        if checked.confirm:
            fields = {"client_id": checked.client_id, "post_logout_redirect_uri": checked.post_logout_redirect_uri,
                      "state": checked.state}
            return self.pages.render("logout_confirm.html", fields={k: v for k, v in fields.items() if v is not None},
                                     sessions=len(checked.sids))
        ended, notices = server.logout.end(checked.sids, env.issuer, env.config.clients,
                                           env.server_config.revoke_on_logout)
        await deliver(server, notices, env.server_config.backchannel_logout_timeout)
        if checked.post_logout_redirect_uri is not None:
            response = redirect_with(checked.post_logout_redirect_uri,
                                     {"state": checked.state} if checked.state is not None else {})
        else:
            response = self.pages.render("logged_out.html", ended=len(ended), notified=len(notices))
        response.headers.append("set-cookie", set_cookie_header(None, env.issuer, 0))
        return response

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return error_page(err, "Logout error")
