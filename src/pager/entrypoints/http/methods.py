"""Which methods a path takes: `OPTIONS` answers 204 with them in `Allow`, and a method the
path does not take is a 405 with the same `Allow` and the endpoint's JSON error.

Starlette answers both with a 405 from the first route whose path matches, whose `Allow`
lists that route's methods only (GET for `/api/v1/services/{id}`, which also takes PUT and
DELETE); this handler of that 405 asks every route instead, so only a 405 pays for it.
"""

from __future__ import annotations

from fastapi import Request, Response
from starlette.routing import Match

from pager.entrypoints.http.errors import ApiError, render

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route takes on the request's path, and OPTIONS: asked of each route
    as the router would ask it, one method at a time (FastAPI nests included routers)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return [*allowed, "OPTIONS"]


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """The handler of Starlette's 405 (`app.add_exception_handler(405, ...)`)."""
    allow = ", ".join(allowed_methods(request))
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": allow})
    return render(
        request,
        ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here; this path takes {allow}",
            headers={"Allow": allow},
        ),
    )
