"""FastAPI dependency aliases: routes reach the per-app Server through these, never a global."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mock_op_auth.server import Server

SERVER = "mock_op_auth.server"  # set by http/namespaces.ServerSelect: the root's Server or a namespace's


def server_of(request: Request) -> Server:
    """The app's Server as a plain call: the protocol routes use it to skip FastAPI's per-request
    dependency solving, and so are matched flat rather than through an included router
    (docs/performance.md); the control API keeps ``ServerDep``."""
    return request.scope.get(SERVER) or request.app.state.server


async def get_server(request: Request) -> Server:
    """Async, so FastAPI calls it inline instead of in a worker thread (a sync dependency costs a thread hop)."""
    return request.scope.get(SERVER) or request.app.state.server


ServerDep = Annotated[Server, Depends(get_server)]
