"""The device authorization grant (RFC 8628): a client on a device without a browser asks for a
code pair, shows the user code, and polls the token endpoint while the user approves or denies
on another device (the ``/device`` page, or ``POST /_mock/device/{user_code}`` in a test).

Polls answer ``authorization_pending`` until the code is decided, ``slow_down`` when sooner
than the interval after the previous poll by the mock clock (never on the first; each adds 5 s
to the interval), ``access_denied`` once denied and ``expired_token`` once expired; an approved
code is redeemed once. Polls and decisions change the record by compare-and-set, so a decision
racing a poll is never lost.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Literal

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.errors import (
    AuthorizationPendingError,
    DeviceAccessDeniedError,
    ExpiredTokenError,
    InvalidGrantError,
    InvalidRequestError,
    SlowDownError,
    UnauthorizedClientError,
)
from mock_op_auth.oauth.authorize import PENDING_TTL, resolve_user
from mock_op_auth.oauth.clients import AuthenticatedClient, authenticate, secrets_equal
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.grants import DEVICE_CODE, BaseGrant, TokenRequest
from mock_op_auth.oauth.issuer import IssuedTokens
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.scope import check_allowed, parse_scope
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import DeviceCode, LoginRequest, Store

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels, nothing to misread
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP = 5  # seconds each slow_down adds to the interval (RFC 8628 §3.5)
VERIFICATION_PATH = "/device"
MAX_SWAPS = 8


def format_user_code(code: str) -> str:
    """``BCDFGHJK`` as the user reads it: ``BCDF-GHJK``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_user_code(typed: str) -> str:
    """What a user typed, as the store keys it: letters only, upper case (``bcdf ghjk`` finds ``BCDF-GHJK``)."""
    return "".join(c for c in typed.upper() if c.isascii() and c.isalpha())[:64]


@dataclass(frozen=True)
class DeviceRequest:
    """A checked device authorization request."""

    client: AuthenticatedClient
    scope: tuple[str, ...]


class DeviceDecisionError(Exception):
    """A decision that cannot be taken: the code is unknown (404) or already decided or expired (409)."""

    def __init__(self, status: Literal[404, 409], message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DeviceService:
    """Device authorization requests, the lookups of the ``/device`` page, and decisions."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def check(self, call: Call, env: Env) -> DeviceRequest:
        """RFC 8628 §3.1: the client authenticates as at the token endpoint and may use the grant."""
        client = authenticate(call, env.config.clients)
        if DEVICE_CODE not in client.client.grant_types:
            raise UnauthorizedClientError("this client may not use the device authorization grant")
        scope = parse_scope(call.form_param("scope")) or tuple(client.client.scopes)
        check_allowed(scope, client.client.scopes)
        return DeviceRequest(client, scope)

    def start(self, req: DeviceRequest, env: Env) -> dict[str, object]:
        """Issue a device code and a user code (RFC 8628 §3.2)."""
        now = self.clock.now()
        user_code = self._free_user_code()
        device = DeviceCode(device_code=secrets.token_urlsafe(32), user_code=user_code, client_id=req.client.client_id,
                            scope=req.scope, expires_at=now + env.server_config.device_code_ttl,
                            interval=env.server_config.device_interval)
        self.store.put_device(device)
        shown = format_user_code(user_code)
        uri = f"{env.issuer}{VERIFICATION_PATH}"
        return {"device_code": device.device_code, "user_code": shown, "verification_uri": uri,
                "verification_uri_complete": f"{uri}?user_code={shown}",
                "expires_in": env.server_config.device_code_ttl, "interval": device.interval}

    def _free_user_code(self) -> str:
        while True:
            code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
            if self.store.find_device(code) is None:
                return code

    def pending(self, typed: str) -> DeviceCode:
        """The undecided, unexpired device code a user typed; DeviceDecisionError otherwise."""
        device = self.store.find_device(normalize_user_code(typed))
        if device is None:
            raise DeviceDecisionError(404, "no such code: check the code your device shows")
        if device.expires_at <= self.clock.now():
            raise DeviceDecisionError(409, "this code has expired: start again on your device")
        if device.status != "pending":
            raise DeviceDecisionError(409, f"this code was already {device.status}")
        return device

    def decide(self, typed: str, approve: bool, user: str | None, env: Env) -> DeviceCode:
        """Approve as ``user`` (a fixture user's key or any subject; default: the one ``login: auto``
        picks) or deny; only a pending code can be decided, and only once."""
        for _ in range(MAX_SWAPS):
            device = self.pending(typed)
            if approve:
                key, subject = resolve_user(user, env)
                decided = replace(device, status="approved", user=key, subject=subject,
                                  decided_at=self.clock.now_int())
            else:
                decided = replace(device, status="denied", decided_at=self.clock.now_int())
            if self.store.swap_device(device, decided):
                return decided
        raise DeviceDecisionError(409, "the code changed while it was being decided; try again")

    # --- the /device page: a consent form per code, CSRF-bound and single use, like the login page ---

    def begin_page(self, device: DeviceCode) -> LoginRequest:
        """Keep a consent form for ``device``; it expires with the code or after PENDING_TTL."""
        login = LoginRequest(secrets.token_urlsafe(16), secrets.token_urlsafe(32),
                             min(device.expires_at, self.clock.now() + PENDING_TTL), {"user_code": device.user_code})
        self.store.put_login(login)
        return login

    def page_answer(self, request_id: str | None, csrf_token: str | None) -> tuple[LoginRequest, DeviceCode]:
        """The consent form a post answers and its still pending code; stores nothing."""
        login = self.store.get_login(request_id or "")
        if login is None or "user_code" not in login.request:
            raise InvalidRequestError("this page is unknown, expired or already answered; enter the code again")
        if not csrf_token or not secrets_equal(csrf_token, login.csrf_token):
            raise InvalidRequestError("the form's CSRF token does not match; reload the page")
        try:
            return login, self.pending(str(login.request["user_code"]))
        except DeviceDecisionError as err:
            raise InvalidRequestError(err.message) from None

    def finish_page(self, login: LoginRequest, approve: bool, user: str | None, env: Env) -> DeviceCode:
        """Use up the consent form and decide its code."""
        if not self.store.take_login(login.id):
            raise InvalidRequestError("this page is unknown, expired or already answered; enter the code again")
        try:
            return self.decide(str(login.request["user_code"]), approve, user, env)
        except DeviceDecisionError as err:
            raise InvalidRequestError(err.message) from None


class DeviceCodeGrant(BaseGrant):
    """RFC 8628 §3.4, §3.5: the client polls with its device code."""

    grant_type = DEVICE_CODE

    def check(self, call: Call, client: AuthenticatedClient, env: Env) -> TokenRequest:
        value = call.required_form_param("device_code")
        device = self.store.get_device(value)
        if device is None or device.client_id != client.client_id:
            raise InvalidGrantError("the device_code is unknown or was issued to another client")
        if device.expires_at <= self.clock.now():
            raise ExpiredTokenError("the device_code has expired; start a new device authorization")
        return TokenRequest(client, self.grant_type, device.scope, device.subject or "", device.user, device=device)

    def act(self, req: TokenRequest, env: Env, override: TokenAction | None) -> IssuedTokens:
        """Record the poll (slow_down when too soon), answer the code's state, or redeem it once approved."""
        assert req.device is not None
        for _ in range(MAX_SWAPS):
            device = self.store.get_device(req.device.device_code)
            if device is None:
                raise InvalidGrantError("the device_code was already used")
            now = self.clock.now()
            if device.expires_at <= now:
                raise ExpiredTokenError("the device_code has expired; start a new device authorization")
            too_soon = device.last_poll is not None and now < device.last_poll + device.interval
            if too_soon:
                if self.store.swap_device(device, replace(device, last_poll=now,
                                                          interval=device.interval + SLOW_DOWN_STEP)):
                    raise SlowDownError(f"poll at most every {device.interval + SLOW_DOWN_STEP} seconds")
                continue
            if device.status == "approved":
                taken = self.store.take_device(device.device_code)
                if taken is None:
                    raise InvalidGrantError("the device_code was already used")
                return self._redeem(replace(req, subject=taken.subject or "", user=taken.user), taken, env, override)
            if self.store.swap_device(device, replace(device, last_poll=now)):
                if device.status == "denied":
                    raise DeviceAccessDeniedError("the user denied the device authorization")
                raise AuthorizationPendingError("the user has not approved the device yet")
        raise AuthorizationPendingError("the device authorization is busy; poll again")

    def _redeem(self, req: TokenRequest, device: DeviceCode, env: Env, override: TokenAction | None) -> IssuedTokens:
        grant = self._new_grant(req, env, device.decided_at or self.clock.now_int(), {})
        with_refresh = "refresh_token" in req.client.client.grant_types
        return self._issue(req, env, override, grant=grant, with_refresh=with_refresh, now=grant.created_at)

