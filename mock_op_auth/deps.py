"""FastAPI dependency aliases: routes reach the per-app Server through these, never a global."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mock_op_auth.server import Server


def get_server(request: Request) -> Server:
    return request.app.state.server


ServerDep = Annotated[Server, Depends(get_server)]
