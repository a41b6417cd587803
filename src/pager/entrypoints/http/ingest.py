"""The two routes an alert storm hits, `POST /api/v1/alerts` and `POST
/integrations/alertmanager`, answered here, in front of FastAPI, and only here: FastAPI's
middleware, routing, dependency solving and response validation cost the event loop twice
what deciding and committing the alert does (docs/benchmarks.md, "The ingest path").

Everything an endpoint does is done here, in this order: 413 for a body over the limit;
401, 403 or 429 for the credential (`auth.identify`, `auth.integration_key`); 415 for a body
that says it is not JSON; 400 for one that is not JSON; 422 naming each invalid field; the
commit through group commit, and only then the 202. Errors have the shape of every other
endpoint's (`errors.render`). FastAPI knows these routes only to describe them in the OpenAPI
document (`documented`); it never routes a request to them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from pager.entrypoints.http import errors
from pager.entrypoints.http.alertmanager import WebhookAccepted, WebhookMessage, accept_webhook
from pager.entrypoints.http.auth import AnyCaller, BearerKeyService, identify, integration_key
from pager.entrypoints.http.context import Context
from pager.entrypoints.http.errors import responses
from pager.entrypoints.http.incidents import accept_alert
from pager.entrypoints.http.limits import TooLarge, read_within, require_json
from pager.entrypoints.http.schemas import AlertAccepted, AlertIn

logger = logging.getLogger("pager.http")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class _Posted:
    secret: str | None
    """The bearer credential, if any."""
    content_type: str
    body: bytes

    def parse(self, model: type[M]) -> M:
        """The body as `model`: 415 if it says it is not JSON, 400 if it is not, 422 naming
        each invalid field."""
        require_json(self.content_type)
        try:
            try:
                return model.model_validate_json(self.body)
            except ValidationError as invalid:
                if invalid.errors()[0]["type"] != "json_invalid":
                    raise
                # Python's parser takes what pydantic's refuses (a lone surrogate, say): then
                # the field it lands in is named, as FastAPI's endpoints name it.
                try:
                    parsed = json.loads(self.body)
                except (ValueError, RecursionError):
                    raise invalid from None
                return model.model_validate(parsed)
        except ValidationError as invalid:
            raise errors.from_validation(invalid.errors()) from None


async def _alert(ctx: Context, posted: _Posted) -> BaseModel:
    caller = identify(ctx, posted.secret)
    return await accept_alert(ctx, posted.parse(AlertIn), caller)


async def _webhook(ctx: Context, posted: _Posted) -> BaseModel:
    service_id = integration_key(ctx, posted.secret)
    return await accept_webhook(ctx, posted.parse(WebhookMessage), service_id)


@dataclass(frozen=True, slots=True)
class _Route:
    accept: Callable[[Context, _Posted], Awaitable[BaseModel]]
    """Checks the credential, parses the body, commits; raises what it refuses."""
    no_bearer: str
    """What a 401 says when the Authorization header is not a bearer credential."""


ROUTES = {
    "/api/v1/alerts": _Route(_alert, "use `Authorization: Bearer <token>`"),
    "/integrations/alertmanager": _Route(_webhook, "an integration key is required"),
}
_JSON_HEADERS = [(b"content-type", b"application/json")]
_NO_TRAILING_SLASH = ("/api/", "/integrations/", "/v2/")


class _Gone(Exception):
    """The client went away before sending its whole body: nobody to answer."""


class Ingest:
    """ASGI, in front of the whole app: answers ROUTES; everything else goes to `app`, an
    API or integration path without its trailing slash."""

    def __init__(self, app: ASGIApp, ctx: Context, max_bytes: int) -> None:
        self.app = app
        self.ctx = ctx
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if len(path) > 1 and path.endswith("/") and path.startswith(_NO_TRAILING_SLASH):
            # Clients differ (Opsgenie's Node SDK posts to /v2/alerts/, pypd to
            # /v2/enqueue/): the same route answers, where a redirect would lose the body.
            path = path.rstrip("/")
            scope = {**scope, "path": path, "raw_path": path.encode()}
        route = ROUTES.get(path) if scope["method"] == "POST" else None
        if route is None:  # other methods too: FastAPI answers OPTIONS and 405 for every path
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._answer(route, scope, receive)
        except _Gone:
            return
        except Exception as error:
            refusal = errors.from_exception(scope["method"], scope["path"], error)
            await errors.render(Request(scope), refusal)(scope, receive, send)
            return
        content = answer.__pydantic_serializer__.to_json(answer)
        headers = [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _answer(self, route: _Route, scope: Scope, receive: Receive) -> BaseModel:
        headers = dict(scope["headers"])
        try:
            body = await read_within(scope, receive, self.max_bytes)
        except TooLarge:
            raise errors.too_large(self.max_bytes) from None
        if body is None:
            raise _Gone
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, credentials = authorization.partition(" ")
        secret = credentials.strip() if scheme.lower() == "bearer" else None
        if authorization and not secret:
            raise errors.unauthorized(route.no_bearer)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        return await route.accept(self.ctx, _Posted(secret, content_type, body))


# -- the OpenAPI document's view of the two routes (never routed: `Ingest` answers them)

documented = APIRouter()


@documented.post(
    "/api/v1/alerts",
    status_code=202,
    tags=["incidents"],
    responses=responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
    summary="Send an alert for a service",
)
async def post_alert(body: AlertIn, caller: AnyCaller) -> AlertAccepted:
    """Opens an incident if the service is healthy, else attaches to its open incident.
    Takes an API token, or the integration key of the service named in the body."""
    raise NotImplementedError("answered by pager.entrypoints.http.ingest.Ingest")


@documented.post(
    "/integrations/alertmanager",
    status_code=202,
    tags=["integrations"],
    responses=responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
    summary="Alertmanager (version 4) and Grafana (version 1) webhooks",
)
async def alertmanager_webhook(
    body: WebhookMessage, service_id: BearerKeyService
) -> WebhookAccepted:
    """Authenticate with `Authorization: Bearer <the service's integration key>`
    (`http_config.authorization.credentials` in Alertmanager)."""
    raise NotImplementedError("answered by pager.entrypoints.http.ingest.Ingest")
