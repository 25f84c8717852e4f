"""ASGI middleware: the request body limit and the last-resort 500.

Both are plain ASGI (not ``BaseHTTPMiddleware``) so they see every byte and every exception
without buffering responses.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import INTERNAL_MESSAGE, error_response, item

log = logging.getLogger("stageform.errors")


class BodyTooLarge(StarletteHTTPException):
    # An HTTPException so that FastAPI re-raises it from its body parsing (anything else there
    # becomes a 400) and the error table answers it like any other.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413.

    A declared ``Content-Length`` over the limit is refused before anything is read; the bytes
    actually received are counted too, so a chunked body (no ``Content-Length``) or a body longer
    than it declared cannot get past.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Request(scope).headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                response = error_response(400, [item("bad_request", "invalid Content-Length")])
                await response(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Read by something that did not go through the error table (a middleware, a
            # route reading request.stream() itself).
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body larger than {self.max_bytes} bytes"
        response = error_response(
            413, [item("body_too_large", message)], headers={"Connection": "close"}
        )
        await response(scope, receive, send)


class CatchAllMiddleware:
    """Answer any exception nothing else handled with a generic 500, and log it once.

    The client never sees a traceback or an exception message.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = error_response(500, [item("internal_error", INTERNAL_MESSAGE)])
            await response(scope, receive, send)
