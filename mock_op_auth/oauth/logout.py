"""Logout: OpenID Connect RP-Initiated Logout 1.0 (``/logout``) and the logout tokens of
Back-Channel Logout 1.0 (delivered by ``http/backchannel.py``).

A logout request is checked before anything ends: an ``id_token_hint`` must be an ID token this
server signed (expired ones are accepted, RP-Initiated Logout §2; a forged one is refused), a
``client_id`` must agree with it, and a ``post_logout_redirect_uri`` must be one of the client's
``post_logout_redirect_uris`` exactly. Every error is shown to the user as a page, never a redirect.
A request another site sent without an ``id_token_hint`` asks the user first (RP-Initiated
Logout §2, §6): any page could otherwise sign a user out.
Ending a session makes a logout token for each of its clients with a ``backchannel_logout_uri``,
and with ``server.revoke_on_logout`` revokes the grants issued in it.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mock_op_auth.config.schema import Client
from mock_op_auth.errors import InvalidRequestError, InvalidTokenError
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.sessions import SessionService
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import KeySet, unverified_header
from mock_op_auth.state.store import Session, Store

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120  # Back-Channel Logout §2.4: a short-lived token (DESIGN §9: at most 2 minutes)


@dataclass(frozen=True)
class LogoutRequest:
    """A checked logout request: the sessions to end and where the browser goes afterwards."""

    client_id: str | None
    sids: tuple[str, ...]
    user: str | None
    post_logout_redirect_uri: str | None
    state: str | None
    confirm: bool = False  # ask the user before anything ends (a cross-site request without a hint)


@dataclass(frozen=True)
class LogoutNotice:
    """One back-channel logout call to make: ``logout_token`` POSTed to ``uri``."""

    client_id: str
    uri: str
    logout_token: str
    sid: str


class LogoutService:
    def __init__(self, sessions: SessionService, keys: KeySet, store: Store, clock: Clock) -> None:
        self.sessions = sessions
        self.keys = keys
        self.store = store
        self.clock = clock

    def check(self, call: Call, env: Env, issuers: Collection[str]) -> LogoutRequest:
        """Verify a logout request (RP-Initiated Logout §2, §3); stores nothing."""
        params = call.form_dict() if call.method == "POST" else call.query_dict()
        client_id = params.get("client_id")
        hint = params.get("id_token_hint")
        hint_sid = None
        if hint:
            claims = self._hint(hint, issuers)
            aud = claims.get("aud")
            audiences = [a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str)]
            if client_id is not None and client_id not in audiences:
                raise InvalidRequestError("client_id does not match the id_token_hint's audience")
            azp = claims.get("azp")
            client_id = client_id or (azp if isinstance(azp, str) else audiences[0] if audiences else None)
            hint_sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        client = env.config.clients.get(client_id) if client_id is not None else None
        if client_id is not None and client is None:
            raise InvalidRequestError(f"unknown client {client_id[:64]}")
        uri = params.get("post_logout_redirect_uri")
        if uri is not None:
            if client is None:
                raise InvalidRequestError("post_logout_redirect_uri needs client_id or id_token_hint")
            if uri not in client.post_logout_redirect_uris:
                raise InvalidRequestError("post_logout_redirect_uri is not registered for this client")
        browser = self.sessions.from_cookie(call.header("cookie"))
        sids = tuple(dict.fromkeys(s for s in (hint_sid, browser.sid if browser else None) if s))
        user = browser.user if browser else None
        return LogoutRequest(client_id, sids, user, uri, params.get("state"), confirm=call.cross_site and not hint)

    def _hint(self, token: str, issuers: Collection[str]) -> dict[str, Any]:
        """An ID token this server signed, expired or not; anything else is refused."""
        try:
            if unverified_header(token).get("typ") == "at+jwt":
                raise InvalidTokenError("malformed", "an access token is not an id_token_hint")
            claims = self.keys.verify(token)
        except InvalidTokenError as err:
            raise InvalidRequestError(f"the id_token_hint is not an ID token of this server: {err.description}"
                                      ) from None
        if claims.get("iss") not in issuers:
            raise InvalidRequestError("the id_token_hint was issued by another issuer")
        return claims

    def end(self, sids: Iterable[str], issuer: str, clients: Mapping[str, Client],
            revoke: bool) -> tuple[list[Session], list[LogoutNotice]]:
        """End sessions (and, with ``revoke``, their grants): the ended ones and the back-channel
        notices to send (Back-Channel Logout §2.5), their tokens issued as the session's issuer
        (``issuer`` for a session that knows none)."""
        ended = [s for s in (self.sessions.end(sid) for sid in sids) if s is not None]
        notices = []
        for session in ended:
            if revoke:
                for grant_id in session.grant_ids:
                    self.store.revoke_grant(grant_id)
            for client_id in session.clients:
                client = clients.get(client_id)
                if client is not None and client.backchannel_logout_uri:
                    notices.append(LogoutNotice(client_id, client.backchannel_logout_uri,
                                                self.logout_token(session, client_id, session.issuer or issuer),
                                                session.sid))
        return ended, notices

    def logout_token(self, session: Session, client_id: str, issuer: str) -> str:
        """A signed logout token (Back-Channel Logout §2.4): ``typ`` logout+jwt, never a ``nonce``."""
        now = self.clock.now_int()
        claims = {"iss": issuer, "aud": client_id, "iat": now, "exp": now + LOGOUT_TOKEN_TTL,
                  "jti": secrets.token_urlsafe(16), "sub": session.subject, "sid": session.sid,
                  "events": {LOGOUT_EVENT: {}}}
        return self.keys.sign(claims, typ="logout+jwt")
