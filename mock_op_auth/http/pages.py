"""Server-rendered HTML pages: the login and consent page, the device page (a code box, then the
same consent page, RFC 8628 §3.3) and the dashboard (Jinja2 templates in ``templates/``). No
external assets and no JavaScript: every action is a plain form post (or get).

A page is rendered by a ``Pages`` object, built once per router (no module-level state). To add a
page: a template extending ``base.html`` and a method here that gathers its context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import HTMLResponse

from mock_op_auth.config.schema import Config
from mock_op_auth.dialects.responses import PAGE_HEADERS
from mock_op_auth.oauth.authorize import PendingRequest
from mock_op_auth.oauth.device import format_user_code
from mock_op_auth.state.store import DeviceCode, LoginRequest

# What a scope lets the client do, in plain words (OIDC Core §5.4 and OP's API scopes).
SCOPE_TEXT: dict[str, str] = {
    "openid": "Confirm who you are",
    "profile": "See your name and basic profile",
    "email": "See your email address",
    "address": "See your postal address",
    "phone": "See your phone number",
    "offline_access": "Stay connected when you are not using it",
    "accounts": "See your accounts, balances and transactions",
    "payments": "Make payments from your accounts",
    "fundsconfirmations": "Check whether your account has enough funds",
    "funds-confirmations": "Check whether your account has enough funds",
    "cards": "See your cards and card transactions",
}


@dataclass(frozen=True)
class ScopeLine:
    name: str
    text: str


@dataclass(frozen=True)
class UserChoice:
    key: str
    name: str
    detail: str


def headline(scope: tuple[str, ...]) -> str:
    """What the client asks for, after its name (a PSD2 payment or funds check says so)."""
    if "payments" in scope:
        return "wants to make a payment from your account"
    if "fundsconfirmations" in scope:
        return "wants to check the funds of your account"
    return "wants to access your account"


def scope_lines(scope: tuple[str, ...]) -> list[ScopeLine]:
    return [ScopeLine(s, SCOPE_TEXT.get(s, f"Use the {s} API for you")) for s in scope]


def user_choices(config: Config, hint: str | None) -> list[UserChoice]:
    """The fixture's users, the ``login_hint`` first."""
    choices = []
    for key, user in config.users.items():
        name = str(user.claims.get("name") or key)
        extra = [str(user.claims["email"])] if user.claims.get("email") else []
        choices.append(UserChoice(key, name, " · ".join([*extra, f"sub {user.subject(key)}"])))
    return sorted(choices, key=lambda c: c.key != hint)


class Pages:
    """Renders the templates; Jinja2 is loaded on the first page, off the server's start-up path."""

    def __init__(self) -> None:
        self._env: Any = None

    @property
    def env(self) -> Any:
        if self._env is None:
            from jinja2 import Environment, PackageLoader, select_autoescape

            self._env = Environment(loader=PackageLoader("mock_op_auth", "templates"),
                                    autoescape=select_autoescape(default=True), trim_blocks=True,
                                    lstrip_blocks=True)
        return self._env

    def render(self, template: str, status: int = 200, headers: dict[str, str] | None = None,
               **context: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})

    def login(self, pending: PendingRequest, config: Config, action: str) -> HTMLResponse:
        """The login and consent page for one pending authorization request."""
        req = pending.request
        client = config.clients.get(req.client_id)
        hint = req.user if req.user is not None else None
        return self.render(
            "login.html", pending=pending, action=action, client_id=req.client_id, headline=headline(req.scope),
            client_name=(client.name if client and client.name else req.client_id),
            scopes=scope_lines(req.scope), users=user_choices(config, hint),
            subject_hint=req.subject if req.user is not None and req.user not in config.users else "",
            redirect_uri=req.redirect.uri, extra=pending.details,
        )

    def device_entry(self, action: str, typed: str = "", error: str | None = None, status: int = 200) -> HTMLResponse:
        """The device page's code box (RFC 8628 §3.3), with why the last code was refused, if it was."""
        return self.render("device.html", status=status, done=False, action=action, typed=typed, error=error)

    def device_consent(self, login: LoginRequest, device: DeviceCode, config: Config, action: str) -> HTMLResponse:
        """The login and consent page for a device code: approve as a user, or deny."""
        client = config.clients.get(device.client_id)
        return self.render(
            "device_consent.html", pending=login, action=action, client_id=device.client_id,
            client_name=(client.name if client and client.name else device.client_id),
            scopes=scope_lines(device.scope), users=user_choices(config, None), subject_hint="",
            user_code=format_user_code(device.user_code), extra={},
        )

    def device_done(self, approved: bool, client_name: str) -> HTMLResponse:
        """What the user sees once the device code is decided."""
        if approved:
            heading, message = "Device connected", f"{client_name} may now use your account: go back to your device."
        else:
            heading, message = "Request denied", f"{client_name} gets no access. You can close this page."
        return self.render("device.html", done=True, heading=heading, message=message)
