"""Login sessions for the control API (``GET``/``DELETE /_mock/sessions``) and the dashboard.

Ending a session here is a logout as ``/logout`` does it: its clients with a
``backchannel_logout_uri`` get a logout token, and ``server.revoke_on_logout`` revokes its tokens.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from mock_op_auth.http.backchannel import deliver
from mock_op_auth.server import Server
from mock_op_auth.state.store import Session


class SessionInfo(BaseModel):
    sid: str
    user: str | None
    subject: str
    clients: list[str]
    auth_time: int
    expires_at: int


class SessionList(BaseModel):
    sessions: list[SessionInfo]


def session_list(server: Server) -> list[SessionInfo]:
    return [SessionInfo(sid=s.sid, user=s.user, subject=s.subject, clients=list(s.clients), auth_time=s.auth_time,
                        expires_at=int(s.expires_at)) for s in server.sessions.live()]


async def end_sessions(server: Server, sids: Iterable[str], issuer: str) -> list[Session]:
    """End sessions as a logout does; returns those that were live."""
    settings = server.config.server
    ended, notices = server.logout.end(sids, issuer, server.client_config().clients, settings.revoke_on_logout)
    await deliver(server, notices, settings.backchannel_logout_timeout)
    return ended
