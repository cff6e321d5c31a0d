"""Request-body limits, one implementation for every route: protocol endpoints read their body
through ``read_bounded`` (so a refusal answers in their dialect), and the control API is guarded
by ``ControlBodyLimit`` before FastAPI parses its JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_op_auth.dialects.responses import json_response
from mock_op_auth.errors import InvalidRequestError, RequestTooLargeError

MAX_BODY_BYTES = 64 * 1024


async def read_bounded(chunks: AsyncIterator[bytes], declared: str | None, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with 413 past ``limit`` whether or not ``Content-Length`` is honest."""
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequestError("malformed Content-Length")
        if int(declared) > limit:
            raise RequestTooLargeError(f"the request body is larger than {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"the request body is larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


class ClientGone(Exception):
    """The client disconnected before its body was read."""


async def _receive_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


class ControlBodyLimit:
    """Refuse control-API bodies over the limit before FastAPI reads them (buffered, then replayed)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/_mock"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        try:
            body = await read_bounded(_receive_chunks(receive), declared.decode("latin-1") if declared else None,
                                      self.limit)
        except ClientGone:
            return
        except InvalidRequestError as err:
            await json_response({"error": err.code, "error_description": err.description}, err.status)(
                scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
