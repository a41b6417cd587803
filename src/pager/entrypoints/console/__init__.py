"""The web console: server-rendered pages (Jinja2) on the API's FastAPI app, with htmx
(vendored in static/, version 2.0.11, no build step) refreshing the dashboard and the
incident page in place. `mount(app, container)` adds it to an app made by `create_app`;
`not_found_page` answers the addresses that are no page of it, nor of the API."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pager.bootstrap import App
from pager.entrypoints.console import (
    ack,
    admin,
    auth,
    incidents,
    maintenance,
    policies,
    profile,
    schedules,
    services,
)
from pager.entrypoints.console.session import SessionCodec
from pager.entrypoints.console.throttle import SignInLimiter
from pager.entrypoints.console.web import STATIC, Console, not_found_page

__all__ = ["mount", "not_found_page"]
from pager.entrypoints.http.context import Context


def mount(app: FastAPI, container: App) -> None:
    settings = container.settings
    api: Context = app.state.pager
    app.state.console = Console(
        api=api,
        sessions=SessionCodec(
            container.secret.value,
            max_age_seconds=settings.session_max_age_seconds,
            secure=settings.links_url.lower().startswith("https://"),
        ),
        sign_in_limiter=SignInLimiter(),
    )
    for module in (
        auth,
        incidents,
        services,
        maintenance,
        policies,
        schedules,
        admin,
        profile,
        ack,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
