"""The authorization endpoint (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2, RFC 9207).

Until the client and its redirect URI are verified, an error is shown to the user (never a
redirect: that would make the server an open redirector); after that, errors go back to the
client with ``error``, ``state`` and ``iss``. With ``login: auto`` the user is the
``login_hint`` (a fixture user's key, or any subject) or else the first fixture user. With
``login: page``, or ``prompt=login`` under any setting, the request waits in the store as a
``PendingRequest`` (single use, with its own CSRF token, expiring by the mock clock) until the
user approves or denies it on the login page.

Every login starts a session (``oauth/sessions.py``). A request from a browser with a live
session is answered as that session's user without a login (``prompt=none`` included), unless
``prompt=login``, an elapsed ``max_age`` or a ``login_hint`` naming someone else asks for a new
one; ``prompt=none`` without a usable session is ``login_required`` (OIDC Core §3.1.2.1).

A request pushed to ``/par`` (RFC 9126) is named by ``client_id`` and ``request_uri``: only the
pushed parameters count, and a bad, expired, used or another client's ``request_uri`` is an
error page. ``require_pushed_authorization_requests`` (per client) and ``server.require_par``
refuse requests that were not pushed. ``dpop_jkt`` (RFC 9449 §10) binds the code to a DPoP key.
"""

from __future__ import annotations

import re
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
    RequestNotSupportedError,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from mock_op_auth.oauth import pkce
from mock_op_auth.oauth.clients import match_redirect_uri, secrets_equal
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.scope import check_allowed, parse_scope
from mock_op_auth.oauth.sessions import SessionService
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import AuthCode, LoginRequest, Session, Store

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
PENDING_TTL = 600  # seconds a login page may stay open
JKT_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # a base64url SHA-256 thumbprint (RFC 7638)


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
    session: str | None = None  # the sid of the live session that answers this request without a login
    max_age: int | None = None
    request_uri: str | None = None  # the pushed request (RFC 9126) this came from; used up on answer
    dpop_jkt: str | None = None
    response_type: str = "code"  # a profile's hybrid ``code id_token`` too (OP's PSD2)


@dataclass(frozen=True)
class RedirectResult:
    """Where the user agent goes after a successful authorization; ``session`` is a session this
    authorization started, which the browser must now keep (its cookie)."""

    uri: str
    params: dict[str, str]
    response_mode: str = "query"
    session: Session | None = None


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
    def __init__(self, store: Store, clock: Clock, sessions: SessionService | None = None) -> None:
        self.store = store
        self.clock = clock
        self.sessions = sessions or SessionService(store, clock)

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
        return self.check_params(params, env, session=self.sessions.from_cookie(call.header("cookie")))

    def check_params(self, params: dict[str, str], env: Env, *, pushed: bool = False,
                     session: Session | None = None) -> AuthorizeRequest:
        """Check an authorization request's parameters; ``pushed``: they were posted to ``/par``;
        ``session``: the browser's live login session, if any."""
        request_uri = None
        if not pushed and "request_uri" in params:
            request_uri, params = self._pushed_params(params, env)
        client_id, redirect, sent = self.trusted_redirect(params, env)
        try:
            client = env.config.clients[client_id]
            if not pushed and request_uri is None and (
                    client.require_pushed_authorization_requests or env.server_config.require_par):
                raise InvalidRequestError("this authorization request must be pushed to /par first (RFC 9126)")
            req = self._check_request(params, env, client_id, redirect, sent, session)
        except OAuthError as err:
            err.redirect = redirect
            raise
        return replace(req, request_uri=request_uri) if request_uri else req

    def _pushed_params(self, params: dict[str, str], env: Env) -> tuple[str, dict[str, str]]:
        """The parameters pushed as ``request_uri`` by the client the request names; an error page otherwise."""
        client_id, _ = known_client(params, env)
        request_uri = params["request_uri"]
        pushed = self.store.get_pushed(request_uri)
        if pushed is None or pushed.expires_at <= self.clock.now() or pushed.client_id != client_id:
            raise InvalidRequestError("request_uri is unknown, expired, already used or was pushed by another client")
        return request_uri, dict(pushed.params)

    def use_pushed(self, req: AuthorizeRequest) -> None:
        """Use up the pushed request ``req`` came from (single use); an error page if it is gone."""
        if req.request_uri is not None and self.store.take_pushed(req.request_uri) is None:
            raise InvalidRequestError("request_uri is unknown, expired, already used or was pushed by another client")

    def _check_request(self, params: dict[str, str], env: Env, client_id: str, redirect: Redirect,
                       sent: str | None, session: Session | None = None) -> AuthorizeRequest:
        client = env.config.clients[client_id]
        if "request" in params:  # its parameters would be silently ignored (OIDC Core §3.1.2.6)
            raise RequestNotSupportedError("request objects are not supported here; send the parameters "
                                           "themselves, or push them to /par")
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
        max_age = _max_age(params.get("max_age"))
        hint = params.get("login_hint")
        usable = session if session is not None and self._continues(session, prompt, max_age, hint) else None
        if "none" in prompt and usable is None:
            raise LoginRequiredError("no login session for prompt=none" if session is None
                                     else "the login session cannot answer this request without a new login")
        dpop_jkt = params.get("dpop_jkt")
        if dpop_jkt is not None and not JKT_PATTERN.fullmatch(dpop_jkt):
            raise InvalidRequestError("dpop_jkt must be a JWK SHA-256 thumbprint (RFC 9449 §10)")
        if usable is not None:
            user, subject = usable.user, usable.subject
        elif self.needs_page(prompt, env):
            user, subject = resolve_user(hint, env) if hint else (None, "")
        else:
            user, subject = resolve_user(hint, env)
        return AuthorizeRequest(client_id, redirect, sent, scope, subject, user, params.get("nonce"),
                                challenge, method, prompt, session=usable.sid if usable else None, max_age=max_age,
                                dpop_jkt=dpop_jkt)

    def _continues(self, session: Session, prompt: frozenset[str], max_age: int | None, hint: str | None) -> bool:
        """Whether ``session`` answers a request without a new login (OIDC Core §3.1.2.1)."""
        if "login" in prompt:
            return False
        if max_age is not None and (max_age == 0 or self.clock.now() - session.auth_time > max_age):
            return False
        return not hint or hint in (session.user, session.subject)

    @staticmethod
    def needs_page(prompt: frozenset[str], env: Env) -> bool:
        """The login page is shown with ``login: page``, and for ``prompt=login`` whatever the setting."""
        return env.server_config.login == "page" or "login" in prompt

    def shows_page(self, req: AuthorizeRequest, env: Env) -> bool:
        """Whether ``req`` waits for the user on the login page (no live session answers it)."""
        return req.session is None and self.needs_page(req.prompt, env)

    def begin(self, req: AuthorizeRequest, details: dict[str, Any] | None = None) -> PendingRequest:
        """Keep a request for the login page, with a fresh CSRF token; expires by the mock clock."""
        pending = PendingRequest(secrets.token_urlsafe(16), secrets.token_urlsafe(32), req,
                                 self.clock.now() + PENDING_TTL, dict(details or {}))
        self.store.put_login(_login_record(pending))
        return pending

    def pending(self, request_id: str | None, csrf_token: str | None) -> PendingRequest:
        """The pending request a login form answers; stores nothing. Errors here are shown as a page."""
        record = self.store.get_login(request_id or "")
        if record is None or record.expires_at <= self.clock.now() or "redirect" not in record.request:
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
        session = self.sessions.joined(req.session, req.client_id) if req.session else None
        started = None
        if session is None:  # a new login, or the session ended meanwhile: a new session
            session = started = self.sessions.start(req.user, req.subject, env.server_config.session_ttl,
                                                    req.client_id, env.issuer)
        code = secrets.token_urlsafe(32)
        self.store.put_code(AuthCode(
            code=code, client_id=req.client_id, redirect_uri=req.redirect_uri_sent, scope=req.scope,
            subject=req.subject, user=req.user, auth_time=session.auth_time,
            expires_at=now + env.server_config.code_ttl, nonce=req.nonce, code_challenge=req.code_challenge,
            code_challenge_method=req.code_challenge_method, extra_claims={**req.extra_claims, "sid": session.sid},
            dpop_jkt=req.dpop_jkt,
        ))
        params = {"code": code, "iss": env.issuer}
        if req.redirect.state is not None:
            params["state"] = req.redirect.state
        return RedirectResult(req.redirect.uri, params, req.redirect.response_mode, started)


def _max_age(value: str | None) -> int | None:
    """OIDC Core §3.1.2.1 ``max_age``: seconds since the last login, a non-negative integer."""
    if value is None:
        return None
    if not value.isdigit() or len(value) > 12:
        raise InvalidRequestError("max_age must be a non-negative integer")
    return int(value)
