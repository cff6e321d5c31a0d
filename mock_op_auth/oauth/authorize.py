"""The authorization endpoint (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2, RFC 9207).

Until the client and its redirect URI are verified, an error is shown to the user (never a
redirect: that would make the server an open redirector); after that, errors go back to the
client with ``error``, ``state`` and ``iss``. With ``login: auto`` the user is the
``login_hint`` (a fixture user's key, or any subject) or else the first fixture user. With
``login: page``, or ``prompt=login`` under any setting, the request waits in the store as a
``PendingRequest`` (single use, with its own CSRF token, expiring by the mock clock) until the
user approves or denies it on the login page; ``prompt=none`` then cannot be honoured:
``login_required``.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mock_op_auth.config.schema import Client, TokenAction
from mock_op_auth.errors import (
    AccessDeniedError,
    InvalidRequestError,
    LoginRequiredError,
    OAuthError,
    Redirect,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from mock_op_auth.oauth import pkce
from mock_op_auth.oauth.clients import match_redirect_uri, secrets_equal
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.scope import check_allowed, parse_scope
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import AuthCode, LoginRequest, Store

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
PENDING_TTL = 600  # seconds a login page may stay open


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect: Redirect
    redirect_uri_sent: str | None
    scope: tuple[str, ...]
    subject: str
    user: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: frozenset[str] = frozenset()
    extra_claims: dict[str, Any] = field(default_factory=dict)
    response_type: str = "code"  # a profile's hybrid ``code id_token`` too (OP's PSD2)


@dataclass(frozen=True)
class RedirectResult:
    """Where the user agent goes after a successful authorization."""

    uri: str
    params: dict[str, str]
    response_mode: str = "query"


@dataclass(frozen=True)
class PendingRequest:
    """An authorization request waiting for the user on the login page.

    ``details`` is shown on the page as what is being authorized (a PSD2 intent, say)."""

    id: str
    csrf_token: str
    request: AuthorizeRequest
    expires_at: float
    details: dict[str, Any] = field(default_factory=dict)


def known_client(params: dict[str, str], env: Env) -> tuple[str, Client]:
    """The registered client an authorization request names; an error page otherwise."""
    client_id = params.get("client_id")
    if not client_id:
        raise InvalidRequestError("client_id is required")
    client = env.config.clients.get(client_id)
    if client is None:
        raise InvalidRequestError(f"unknown client {client_id[:64]}")
    return client_id, client


def resolve_user(login_hint: str | None, env: Env) -> tuple[str | None, str]:
    """The (fixture user key, subject) to log in: the ``login_hint`` (a user's key, or any
    subject), else the fixture's first user."""
    users = env.config.users
    if login_hint:
        known = users.get(login_hint)
        return login_hint, known.subject(login_hint) if known else login_hint
    if not users:
        raise AccessDeniedError("no user to log in as: give login_hint or define users in the fixture")
    key = next(iter(users))
    return key, users[key].subject(key)


def _login_record(pending: PendingRequest) -> LoginRequest:
    data = asdict(pending.request)
    data["prompt"] = sorted(pending.request.prompt)
    return LoginRequest(pending.id, pending.csrf_token, pending.expires_at, data, pending.details)


def _pending_of(record: LoginRequest) -> PendingRequest:
    data = dict(record.request)
    data.update(redirect=Redirect(**data["redirect"]), scope=tuple(data["scope"]), prompt=frozenset(data["prompt"]))
    return PendingRequest(record.id, record.csrf_token, AuthorizeRequest(**data), record.expires_at,
                          dict(record.details))


class AuthorizeService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def trusted_redirect(self, params: dict[str, str], env: Env) -> tuple[str, Redirect, str | None]:
        """Verify client and redirect URI; errors here go to the user, not the client."""
        client_id, client = known_client(params, env)
        sent = params.get("redirect_uri")
        if sent is None:
            if len(client.redirect_uris) != 1:
                raise InvalidRequestError("redirect_uri is required for this client")
            uri = client.redirect_uris[0]
        elif match_redirect_uri(sent, client.redirect_uris):
            uri = sent
        else:
            raise InvalidRequestError("redirect_uri is not registered for this client")
        mode = params.get("response_mode", "query")
        return client_id, Redirect(uri, params.get("state"), "fragment" if mode == "fragment" else "query"), sent

    def check(self, call: Call, env: Env) -> AuthorizeRequest:
        params = call.form_dict() if call.method == "POST" else call.query_dict()
        client_id, redirect, sent = self.trusted_redirect(params, env)
        try:
            return self._check_request(params, env, client_id, redirect, sent)
        except OAuthError as err:
            err.redirect = redirect
            raise

    def _check_request(self, params: dict[str, str], env: Env, client_id: str, redirect: Redirect,
                       sent: str | None) -> AuthorizeRequest:
        client = env.config.clients[client_id]
        response_type = params.get("response_type")
        if not response_type:
            raise InvalidRequestError("response_type is required")
        if response_type != "code":
            raise UnsupportedResponseTypeError(f"unsupported response_type {response_type}")
        if params.get("response_mode", "query") != "query":
            raise InvalidRequestError("unsupported response_mode")
        if "authorization_code" not in client.grant_types:
            raise UnauthorizedClientError("this client may not use the authorization_code grant")
        scope = parse_scope(params.get("scope")) or tuple(client.scopes)
        check_allowed(scope, client.scopes)
        challenge, method = pkce.check_challenge(params.get("code_challenge"), params.get("code_challenge_method"),
                                                 required=client.is_public or client.require_pkce)
        prompt = frozenset(params.get("prompt", "").split())
        if prompt - PROMPTS or ("none" in prompt and len(prompt) > 1):
            raise InvalidRequestError("invalid prompt")
        if "none" in prompt and env.server_config.login == "page":
            raise LoginRequiredError("the user must log in on the login page; prompt=none cannot be honoured")
        if self.needs_page(prompt, env):
            user, subject = resolve_user(params["login_hint"], env) if params.get("login_hint") else (None, "")
        else:
            user, subject = resolve_user(params.get("login_hint"), env)
        return AuthorizeRequest(client_id, redirect, sent, scope, subject, user, params.get("nonce"),
                                challenge, method, prompt)

    @staticmethod
    def needs_page(prompt: frozenset[str], env: Env) -> bool:
        """The login page is shown with ``login: page``, and for ``prompt=login`` whatever the setting."""
        return env.server_config.login == "page" or "login" in prompt

    def begin(self, req: AuthorizeRequest, details: dict[str, Any] | None = None) -> PendingRequest:
        """Keep a request for the login page, with a fresh CSRF token; expires by the mock clock."""
        pending = PendingRequest(secrets.token_urlsafe(16), secrets.token_urlsafe(32), req,
                                 self.clock.now() + PENDING_TTL, dict(details or {}))
        self.store.put_login(_login_record(pending))
        return pending

    def pending(self, request_id: str | None, csrf_token: str | None) -> PendingRequest:
        """The pending request a login form answers; stores nothing. Errors here are shown as a page."""
        record = self.store.get_login(request_id or "")
        if record is None or record.expires_at <= self.clock.now():
            raise InvalidRequestError("this login request is unknown, expired or already answered")
        if not csrf_token or not secrets_equal(csrf_token, record.csrf_token):
            raise InvalidRequestError("the form's CSRF token does not match; reload the login page")
        return _pending_of(record)

    def approved(self, pending: PendingRequest, user: str | None, subject: str | None,
                 env: Env) -> AuthorizeRequest:
        """The request as approved by ``user`` (a fixture user's key) or a free ``subject``."""
        chosen = user or (subject or "").strip()
        if not chosen:
            raise InvalidRequestError("choose a user or give a subject")
        if user is not None and user not in env.config.users:
            raise InvalidRequestError(f"unknown user {user}")
        key, sub = resolve_user(chosen, env)
        return replace(pending.request, user=key, subject=sub)

    def finish(self, pending: PendingRequest, req: AuthorizeRequest | None, env: Env,
               override: TokenAction | None = None) -> RedirectResult:
        """Use up a pending request: a code for ``req`` when approved, ``access_denied`` when ``req`` is None."""
        if not self.store.take_login(pending.id):
            raise InvalidRequestError("this login request is unknown, expired or already answered")
        if req is None:
            raise AccessDeniedError("the user denied the request", redirect=pending.request.redirect)
        return self.act(req, env, override)

    def act(self, req: AuthorizeRequest, env: Env, override: TokenAction | None = None) -> RedirectResult:
        """Issue a single-use code bound to everything the token request must match."""
        now = self.clock.now_int()
        code = secrets.token_urlsafe(32)
        self.store.put_code(AuthCode(
            code=code, client_id=req.client_id, redirect_uri=req.redirect_uri_sent, scope=req.scope,
            subject=req.subject, user=req.user, auth_time=now, expires_at=now + env.server_config.code_ttl,
            nonce=req.nonce, code_challenge=req.code_challenge, code_challenge_method=req.code_challenge_method,
            extra_claims=req.extra_claims,
        ))
        params = {"code": code, "iss": env.issuer}
        if req.redirect.state is not None:
            params["state"] = req.redirect.state
        return RedirectResult(req.redirect.uri, params, req.redirect.response_mode)
