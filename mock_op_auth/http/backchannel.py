"""Back-channel logout delivery (OpenID Back-Channel Logout 1.0 §2.5): each logout token is POSTed
as a form to its client's ``backchannel_logout_uri``, all at once, waiting at most
``server.backchannel_logout_timeout`` seconds (5 at most) so a slow receiver never holds up the
logout page. Each call and its answer (or why there was none) goes into the request journal as
endpoint ``logout``, the token itself masked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mock_op_auth.oauth.logout import LogoutNotice
from mock_op_auth.oauth.request import FORM_TYPE
from mock_op_auth.server import Server
from mock_op_auth.state.journal import MASK

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("mock_op_auth")
ANSWER_SHOWN = 500  # characters of a receiver's answer kept in the journal


async def deliver(server: Server, notices: Sequence[LogoutNotice], timeout: float) -> None:
    """POST every notice concurrently; record each outcome; return within ``timeout`` seconds."""
    if not notices:
        return
    import httpx  # here, not at the top: most servers never send a logout token (~50 ms of start-up)

    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        tasks = [asyncio.create_task(_post(client, notice)) for notice in notices]
        started = time.perf_counter()
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        for notice, task in zip(notices, tasks, strict=True):
            if task in done and not task.cancelled():
                status, answer, duration = task.result()
            else:
                status, answer, duration = None, f"no answer within {timeout:g} s", elapsed
            _record(server, notice, status, answer, duration)


async def _post(client: httpx.AsyncClient, notice: LogoutNotice) -> tuple[int | None, str, float]:
    import httpx

    started = time.perf_counter()
    try:
        response = await client.post(notice.uri, data={"logout_token": notice.logout_token},
                                     headers={"Cache-Control": "no-store"})
        answer = response.text[:ANSWER_SHOWN]
        status: int | None = response.status_code
    except httpx.HTTPError as err:
        status, answer = None, f"{type(err).__name__}: {err}"[:ANSWER_SHOWN]
    return status, answer, round((time.perf_counter() - started) * 1000, 3)


def _record(server: Server, notice: LogoutNotice, status: int | None, answer: str, duration_ms: float) -> None:
    server.journal.record({
        "time": round(server.clock.now(), 3), "method": "POST", "path": notice.uri, "endpoint": "logout",
        "dialect": None, "client_id": notice.client_id, "grant_type": None, "status": status, "scenario": None,
        "rule": None, "params": {"logout_token": MASK}, "headers": {"content-type": FORM_TYPE},
        "duration_ms": duration_ms, "direction": "outgoing", "sid": notice.sid, "answer": answer,
    })
    if status is None or status >= 300:
        log.warning("back-channel logout to %s for client %s: %s", notice.uri, notice.client_id,
                    status if status is not None else answer)
