"""Login sessions at the authorization endpoint (OIDC Core §3.1.2.1 ``prompt``/``max_age``, the
``sid`` of OpenID Front/Back-Channel Logout §2).

A login (the login page's Approve, or ``login: auto``) starts a session; the browser keeps it in
the cookie ``mock_op_auth_session`` as ``<sid>.<secret>``: ``sid`` is public (ID tokens and logout
tokens carry it), the secret proves the browser holds the session. Sessions are Store records,
expiring by the mock clock after ``server.session_ttl``.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from mock_op_auth.oauth.clients import secrets_equal
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import Session, Store

COOKIE = "mock_op_auth_session"


def cookie_values(header: str | None) -> list[str]:
    """Every ``mock_op_auth_session`` value in a Cookie header (a browser may send several, one per path)."""
    if not header or COOKIE not in header:
        return []
    values = []
    for piece in header.split(";"):
        name, _, value = piece.strip().partition("=")
        if name == COOKIE and value:
            values.append(value.strip('"'))
    return values


def set_cookie_header(session: Session | None, issuer: str, ttl: int) -> str:
    """The ``Set-Cookie`` value that keeps ``session`` in the browser (or, for None, forgets it).

    HttpOnly and SameSite=Lax; Secure only when the issuer is https (the mock works on plain http);
    the path is the issuer's own (``/`` unless the issuer has a path), so each issuer has its own."""
    path = urlsplit(issuer).path or "/"
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie[COOKIE] = f"{session.sid}.{session.secret}" if session else ""
    except CookieError:  # never for our own token_urlsafe values
        cookie[COOKIE] = ""
    morsel = cookie[COOKIE]
    morsel["path"] = path
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    morsel["max-age"] = ttl if session else 0
    if issuer.startswith("https://"):
        morsel["secure"] = True
    return morsel.OutputString()


class SessionService:
    """Start, find, extend and end login sessions (the Store keeps them)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def start(self, user: str | None, subject: str, ttl: int, client_id: str, issuer: str) -> Session:
        """A new login of ``user`` (``subject``), for ``client_id``'s request answered as ``issuer``."""
        now = self.clock.now_int()
        session = Session(sid=secrets.token_urlsafe(16), secret=secrets.token_urlsafe(24), user=user,
                          subject=subject, auth_time=now, expires_at=now + ttl, clients=(client_id,), issuer=issuer)
        self.store.put_session(session)
        return session

    def from_cookie(self, header: str | None) -> Session | None:
        """The live session a Cookie header proves, if any (the secret is compared in constant time)."""
        for value in cookie_values(header):
            sid, _, secret = value.partition(".")
            session = self.store.get_session(sid) if sid and secret else None
            if session is not None and secrets_equal(secret, session.secret):
                return session
        return None

    def joined(self, sid: str, client_id: str) -> Session | None:
        """Note that ``client_id`` got a code in session ``sid`` (it is told when the session ends)."""
        session = self.store.get_session(sid)
        if session is not None and client_id not in session.clients:
            session = replace(session, clients=(*session.clients, client_id))
            self.store.put_session(session)
        return session

    def end(self, sid: str) -> Session | None:
        """End one session; None when it had ended already."""
        return self.store.take_session(sid)

    def end_all(self) -> list[Session]:
        return [s for s in (self.store.take_session(x.sid) for x in self.store.sessions()) if s is not None]

    def live(self) -> list[Session]:
        return self.store.sessions()
