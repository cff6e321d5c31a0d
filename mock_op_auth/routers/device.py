"""POST /device_authorization (RFC 8628 §3.1) and the /device page (§3.3): a code box, then the
login and consent page for that code. Both are endpoint ``device`` for scenarios and the journal;
the page's answers are HTML (errors too), the authorization endpoint's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.responses import NO_STORE, error_page, json_response
from mock_op_auth.errors import InvalidRequestError, OAuthError
from mock_op_auth.http.pages import Pages
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.device import VERIFICATION_PATH, DeviceDecisionError, DeviceRequest
from mock_op_auth.oauth.request import FORM_TYPE, Call
from mock_op_auth.server import Server
from mock_op_auth.state.store import DeviceCode, LoginRequest


class DeviceAuthorizationHandler(BaseHandler[DeviceRequest]):
    endpoint = "device"
    dialect = DIALECTS["rfc"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, DeviceRequest]:
        if call.method != "POST" or (call.body and call.content_type != FORM_TYPE):
            raise InvalidRequestError("post the request as application/x-www-form-urlencoded")
        req = server.device.check(call, env)
        return Facts(req.client.client_id, None, req.scope), req

    def act(self, server: Server, checked: DeviceRequest, env: Env, override: TokenAction | None) -> Response:
        return json_response(server.device.start(checked, env), headers=NO_STORE)


@dataclass(frozen=True)
class DevicePage:
    """What the /device page shows or does: the code box (with why a code was refused), the
    consent form for a pending code, or a decision taken on that form."""

    kind: Literal["entry", "consent", "decision"]
    typed: str = ""
    refusal: DeviceDecisionError | None = None
    device: DeviceCode | None = None
    login: LoginRequest | None = None
    approve: bool = False
    user: str | None = None


class DevicePageHandler(BaseHandler[DevicePage]):
    endpoint = "device"
    dialect = DIALECTS["rfc"]

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, DevicePage]:
        if call.method == "POST":
            return self._decision(server, call, env)
        typed = (call.query_param("user_code") or "").strip()
        if not typed:
            return Facts(), DevicePage("entry")
        try:
            device = server.device.pending(typed)
        except DeviceDecisionError as err:
            return Facts(), DevicePage("entry", typed[:64], err)
        return Facts(device.client_id, None, device.scope), DevicePage("consent", device=device)

    def _decision(self, server: Server, call: Call, env: Env) -> tuple[Facts, DevicePage]:
        if call.content_type != FORM_TYPE:
            raise InvalidRequestError("the device form is posted as application/x-www-form-urlencoded")
        if call.cross_site:
            raise InvalidRequestError("the device form is answered from its own page, not from another site")
        form = call.form_dict()
        login, device = server.device.page_answer(form.get("request_id"), form.get("csrf_token"))
        decision = form.get("decision")
        if decision == "deny":
            return Facts(device.client_id, None, device.scope), DevicePage("decision", device=device, login=login)
        if decision != "approve":
            raise InvalidRequestError("decision must be approve or deny")
        user, subject = form.get("user") or None, (form.get("subject") or "").strip()
        if user is not None and user not in env.config.users:
            raise InvalidRequestError(f"unknown user {user[:64]}")
        chosen = user or subject
        if not chosen:
            raise InvalidRequestError("choose a user or give a subject")
        facts = Facts(device.client_id, None, device.scope, user or env.config.user_key_for(subject))
        return facts, DevicePage("decision", device=device, login=login, approve=True, user=chosen)

    def act(self, server: Server, checked: DevicePage, env: Env, override: TokenAction | None) -> Response:
        if checked.kind == "entry":
            refusal = checked.refusal
            return self.pages.device_entry(server.local_path(VERIFICATION_PATH), checked.typed,
                                           refusal.message if refusal else None, refusal.status if refusal else 200)
        assert checked.device is not None
        if checked.kind == "consent":
            login = server.device.begin_page(checked.device)
            return self.pages.device_consent(login, checked.device, env.config, server.local_path(VERIFICATION_PATH))
        assert checked.login is not None
        decided = server.device.finish_page(checked.login, checked.approve, checked.user, env)
        client = env.config.clients.get(decided.client_id)
        return self.pages.device_done(decided.status == "approved",
                                      client.name if client and client.name else decided.client_id)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return error_page(err)
