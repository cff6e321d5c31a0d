"""Journal entries for control calls that change state (endpoint ``control``).

A test reading the journal sees when it switched scenarios, queued rules or moved the clock,
between the protocol requests those changes affected. Reads (GET) are not recorded, nor are
``POST /_mock/reset`` and ``DELETE /_mock/requests``: both empty the journal, and an entry of
their own would be the one thing left in a journal the caller just asked to be empty.
Refused calls (401, 404, 422) are recorded too, with their status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mock_op_auth.http.deps import SERVER
from mock_op_auth.json_input import parse_json
from mock_op_auth.state.journal import mask_headers, mask_json

UNJOURNALED = frozenset({("POST", "/_mock/reset"), ("DELETE", "/_mock/requests")})
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class JournaledRoute(APIRoute):
    """An APIRoute whose state-changing calls leave a masked entry in the server's journal."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        methods = self.methods - READS
        if not methods or all((m, self.path) in UNJOURNALED for m in methods):
            return handler

        async def journaled(request: Request) -> Response:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status_code
                return response
            except HTTPException as err:
                status = err.status_code
                raise
            except RequestValidationError:
                status = 422
                raise
            finally:
                await _record(request, status, started)

        return journaled


async def _record(request: Request, status: int, started: float) -> None:
    server = request.scope.get(SERVER) or getattr(request.app.state, "server", None)
    if server is None:
        return
    try:
        body = await request.body()
    except Exception:  # the body was never read (refused before it) or the client went away
        body = b""
    server.journal.record({
        "time": round(server.clock.now(), 3), "method": request.method, "path": request.url.path,
        "endpoint": "control", "dialect": None, "client_id": None, "grant_type": None, "status": status,
        "scenario": None, "rule": None, "params": _params(body, request), "headers": mask_headers(
            {k.lower(): v for k, v in request.headers.items()}),
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    })


def _params(body: bytes, request: Request) -> dict[str, Any]:
    """The JSON body's top-level members (secrets masked at any depth), plus the query parameters."""
    params: dict[str, Any] = dict(request.query_params)
    try:
        data = parse_json(body) if body else None
    except ValueError:  # not JSON, or nested too deep
        data = None
    if isinstance(data, dict):
        params.update(data)
    return mask_json(params)
