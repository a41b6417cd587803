"""The two endpoints an alert storm hits, `POST /api/v1/alerts` and `POST
/integrations/alertmanager`, answered without FastAPI's routing, dependency solving and
response validation: under load these cost more than deciding and committing the alert.

Only the common case is handled here: a body that parses, a Bearer credential. Anything
else (no or another kind of Authorization header, a body that does not validate, a body
over the limit) goes on to the FastAPI endpoint with the body it was sent, which answers
as it always has; nothing has been done or counted by then. The endpoints and this path
share their work (`accept_alert`, `accept_webhook`), so they cannot drift apart: the same
checks, the same commit, the same answer, and every 2xx is sent after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from pager.domain.errors import DomainError
from pager.entrypoints.http import errors
from pager.entrypoints.http.alertmanager import WebhookMessage, accept_webhook
from pager.entrypoints.http.auth import identify, integration_key
from pager.entrypoints.http.context import Context
from pager.entrypoints.http.incidents import accept_alert
from pager.entrypoints.http.limits import read_body, replay
from pager.entrypoints.http.schemas import AlertIn

logger = logging.getLogger("pager.http")

_JSON_HEADERS = [(b"content-type", b"application/json")]


async def _alert(ctx: Context, body: bytes, secret: str) -> BaseModel | None:
    try:
        alert = AlertIn.model_validate_json(body)
    except ValidationError:
        return None
    return await accept_alert(ctx, alert, identify(ctx, secret))


async def _webhook(ctx: Context, body: bytes, secret: str) -> BaseModel | None:
    try:
        message = WebhookMessage.model_validate_json(body)
    except ValidationError:
        return None
    return await accept_webhook(ctx, message, integration_key(ctx, secret))


_Endpoint = Callable[[Context, bytes, str], Awaitable[BaseModel | None]]
ENDPOINTS: dict[str, _Endpoint] = {
    "/api/v1/alerts": _alert,
    "/integrations/alertmanager": _webhook,
}


class FastIngest:
    """ASGI, in front of the whole app: the fast path for ENDPOINTS, everything else passes."""

    def __init__(self, app: ASGIApp, ctx: Context, max_bytes: int) -> None:
        self.app = app
        self.ctx = ctx
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        secret = _bearer(scope)
        if secret is None:
            await self.app(scope, receive, send)
            return
        read = await read_body(receive, self.max_bytes)
        if read is None:  # the client went away
            return
        chunks, more = read
        if more or sum(map(len, chunks)) > self.max_bytes:  # the app answers 413
            await self.app(scope, replay(chunks, more, receive), send)
            return
        body = b"".join(chunks)
        try:
            answer = await endpoint(self.ctx, body, secret)
        except errors.ApiError as error:
            await errors.render(Request(scope), error)(scope, receive, send)
            return
        except DomainError as error:
            await errors.render(Request(scope), errors.from_domain(error))(scope, receive, send)
            return
        except Exception as error:  # the database is down, say: as the app answers it
            logger.error("error in POST %s", scope["path"], exc_info=error)
            await errors.render(Request(scope), errors.INTERNAL)(scope, receive, send)
            return
        if answer is None:  # not valid: the endpoint says why, in its words
            await self.app(scope, replay(chunks, False, receive), send)
            return
        content = answer.__pydantic_serializer__.to_json(answer)
        headers = [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, credentials = header.partition(" ")
            credentials = credentials.strip()
            if scheme.lower() == "bearer" and credentials:
                return credentials
            return None
    return None
