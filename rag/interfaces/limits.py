"""Request limits as ASGI middleware: body size (413) and per-client rate limits (429).

``BodyLimit`` refuses a body larger than its limit before it is read when the
``Content-Length`` says so, and stops reading as soon as a streamed (chunked) body
passes it; multipart uploads have their own, larger limit. ``RateLimit`` counts the
requests of each client address to the rate-limited routes in a moving window (the
``limits`` package, in memory) and answers 429 with ``Retry-After`` when one is spent.
Both answer with the API's error shape ``{"detail": "..."}``.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from rag.errors import InputError

if TYPE_CHECKING:
    from limits import RateLimitItem
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


def describe_size(n: int) -> str:
    """``4 MiB``, ``20 MiB``, ``1000 bytes``: a limit as people read it."""
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    return f"{n} bytes"


class BodyLimit:
    """413 for request bodies above ``max_body`` (``max_upload`` for multipart)."""

    def __init__(self, app: ASGIApp, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").startswith("multipart/form-data")
        limit = self.max_upload if multipart else self.max_body
        too_large = JSONResponse(
            {"detail": f"request body too large (limit {describe_size(limit)})"}, status_code=413
        )
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await JSONResponse({"detail": "invalid Content-Length"}, 400)(scope, receive, send)
                return
            if int(declared) > limit:
                await too_large(scope, receive, send)
                return
        received = 0
        over = False
        started = False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # the app sees the client go away; the 413 is sent below
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to a cut-off body is replaced by the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await too_large(scope, receive, send)


def parse_rate(name: str, value: str) -> RateLimitItem | None:
    """A rate setting (``"60/minute"``) as a ``limits`` item; ``None`` for ``""``.

    Raises:
        InputError: when the setting is not in the ``limits`` notation.
    """
    if not value.strip():
        return None
    from limits import parse

    try:
        return parse(value)
    except ValueError:
        raise InputError(
            f"{name}: {value!r} is not a rate such as '60/minute' (or '' for no limit)"
        ) from None


class RateLimit:
    """429 with ``Retry-After`` when a client spends its budget on a limited route.

    Args:
        app: The wrapped ASGI app.
        rates: ``(method, path)`` → the limit for that route; ``None`` means no limit.
    """

    def __init__(self, app: ASGIApp, rates: dict[tuple[str, str], RateLimitItem | None]) -> None:
        from limits import storage, strategies

        self.app = app
        self.rates = {k: v for k, v in rates.items() if v is not None}
        self.limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"].rstrip("/") or "/"
            item = self.rates.get((scope["method"], path))
            if item is not None:
                client = scope.get("client")
                who = client[0] if client else "unknown"
                if not self.limiter.hit(item, path, who):
                    await self._refuse(item, path, who)(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _refuse(self, item: RateLimitItem, path: str, who: str) -> JSONResponse:
        reset = self.limiter.get_window_stats(item, path, who).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        body: dict[str, Any] = {
            "detail": f"too many requests to {path}: limit {item}; retry after {wait} s"
        }
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(wait)})
