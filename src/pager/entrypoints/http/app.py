"""The HTTP API: `create_app(container)` builds the FastAPI application around a container
from `pager.bootstrap`. Handlers are synchronous and commit before they return, so every
2xx is sent after the commit."""

from __future__ import annotations

import time
from functools import partial

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from pager.bootstrap import App
from pager.entrypoints import console
from pager.entrypoints.http import (
    alertmanager,
    calendar_feeds,
    contact_methods,
    docs,
    errors,
    heartbeats,
    incidents,
    maintenance,
    methods,
    ops,
    opsgenie,
    opsgenie_alerts,
    opsgenie_heartbeats,
    pagerduty,
    pagerduty_rest,
    policies,
    schedules,
    services,
    slack,
    twilio,
    users,
)
from pager.entrypoints.http.context import Context
from pager.entrypoints.http.ingest import Ingest, documented
from pager.entrypoints.http.limits import BodyLimitMiddleware, RateLimiter

DESCRIPTION = """\
Pager pages the people on a service's escalation policy, level by level, until someone
acknowledges or the service is healthy again.

Authenticate with `Authorization: Bearer <API token>` (`pagerd token create`). A service's
integration key (shown to admins when the service is created or its key rotated) may send
alerts for that service only: on `/api/v1/alerts`, `/integrations/alertmanager`,
`/v2/enqueue` (PagerDuty Events v2, as `routing_key`) and `/v2/alerts` (Opsgenie, as
`GenieKey`). Errors are `{"error": {"code", "message"}}`. PagerDuty's REST API for
incidents, under `/pagerduty`, takes an API token as `Token token=<API token>` and answers
errors as PagerDuty does.
"""


class _Started:
    """Notes when each request started (Opsgenie answers say how long they `took`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["started"] = time.monotonic()
        await self.app(scope, receive, send)


class _PagerAPI(FastAPI):
    """FastAPI with the ingest path (`Ingest`) in front of everything, FastAPI's own outer
    layers (error page, telemetry, body limit) included: under load they cost more than
    deciding and committing an alert."""

    ingest: Ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.ingest(scope, receive, send)


def create_app(container: App) -> FastAPI:
    settings = container.settings
    app = _PagerAPI(
        title="Pager",
        version="1",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # served by `docs`, with its own assets rather than a CDN's
        redoc_url=None,
        # Pager's metrics are Prometheus's (/metrics). FastAPI's own OpenTelemetry hooks
        # look up the global providers on every request, which an alert storm pays for.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    ctx = app.state.pager = Context(
        container, RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    )
    errors.install(app, not_found_page=console.not_found_page)
    app.add_exception_handler(405, methods.method_not_allowed)
    limit = settings.max_body_bytes
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=limit,
        reject=lambda scope: errors.render(Request(scope), errors.too_large(limit)),
    )
    app.add_middleware(_Started)
    app.ingest = Ingest(partial(FastAPI.__call__, app), ctx=ctx, max_bytes=limit)
    app.include_router(documented)
    docs.mount(app)
    for module in (
        incidents,
        services,
        maintenance,
        heartbeats,
        policies,
        schedules,
        users,
        calendar_feeds,
        contact_methods,
        alertmanager,
        pagerduty,
        pagerduty_rest,
        opsgenie,
        opsgenie_alerts,
        opsgenie_heartbeats,
        slack,
        twilio,
        ops,
    ):
        app.include_router(module.router)
    console.mount(app, container)  # the web console at /, after the API's routes
    return app
