"""Every error as JSON, never a traceback: `{"error": {"code", "message"}}` on the API, and
the shapes that PagerDuty and Opsgenie clients expect on their endpoints."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from pager.adapters.storage.engine import OUTAGES, outage
from pager.domain.errors import Conflict, DomainError, NotFound, ValidationFailed

logger = logging.getLogger("pager.http")

PAGERDUTY_PATHS = ("/v2/enqueue", "/v2/change/enqueue")
OPSGENIE_PREFIXES = ("/v2/alerts", "/v2/heartbeats")
PAGERDUTY_REST_PREFIX = "/pagerduty/"
# The API's addresses; an unknown address outside them is the console's to answer.
API_PREFIXES = ("/api/", "/v2/", "/integrations/", PAGERDUTY_REST_PREFIX, "/openapi.json",
                "/docs", "/metrics", "/healthz", "/readyz", "/static/")  # fmt: skip
# PagerDuty's REST API error codes, by the status Pager answers with (each code's message is
# PagerDuty's). Input PagerDuty refuses is a 400 there, whether Pager's API says 409 or 422.
PAGERDUTY_REST_CODES = {
    400: (2001, "Invalid Input Provided"),
    401: (2006, "Authentication failed"),
    403: (2010, "Access Denied"),
    404: (2100, "Not Found"),
    405: (2101, "Method Not Allowed"),
}


class Problem(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    problems: list[Problem] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """An answer other than success, raised anywhere below an endpoint."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        problems: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.problems = tuple(problems)


def unauthorized(message: str = "a valid API token is required") -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def _describe(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _code(status: int) -> str:
    return _describe(status).lower().replace(" ", "_").replace("-", "_")


INTERNAL = ApiError(500, "internal", "internal error; see the server log")
RETRY_AFTER_OUTAGE = 5
UNAVAILABLE = ApiError(
    503,
    "unavailable",
    "the database is unavailable; nothing was done, try again in a few seconds",
    headers={"Retry-After": str(RETRY_AFTER_OUTAGE)},
)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the request body is over {limit} bytes")


def from_exception(method: str, path: str, error: Exception) -> ApiError:
    """The answer to anything an endpoint raised. A database outage is a 503 with
    Retry-After and one log line; any other unexpected error is a 500, logged with its
    traceback for the operator (the client learns nothing internal)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, DomainError):
        return from_domain(error)
    reason = outage(error)
    if reason is not None:
        logger.error("%s %s: %s", method, path, reason)
        return UNAVAILABLE
    logger.error("error in %s %s", method, path, exc_info=error)
    return INTERNAL


def render(request: Request, error: ApiError) -> JSONResponse:
    """The error in the dialect of the endpoint that was called."""
    path = request.url.path
    body: dict[str, Any]
    if path in PAGERDUTY_PATHS:
        errors = [f"{where}: {what}" for where, what in error.problems] or [error.message]
        status = "throttle event" if error.status == 429 else "invalid event"
        body = {"status": status, "message": error.message, "errors": errors}
    elif path.startswith(PAGERDUTY_REST_PREFIX):
        return _pagerduty_rest(error)
    else:
        detail: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.problems:
            detail["problems"] = [{"field": w, "message": m} for w, m in error.problems]
        body = {"error": detail}
        if path.startswith(OPSGENIE_PREFIXES):
            started = getattr(request.state, "started", None)
            took = 0.0 if started is None else round(time.monotonic() - started, 3)
            body |= {"message": error.message, "took": took, "requestId": str(uuid.uuid4())}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _pagerduty_rest(error: ApiError) -> JSONResponse:
    """PagerDuty's REST API error: `{"error": {"message", "code", "errors"}}`, `errors`
    naming each field (`incident.status must be ...`)."""
    status = 400 if error.status in (409, 422) else error.status
    code, message = PAGERDUTY_REST_CODES.get(status, (status, _describe(status)))
    errors = [
        f"{where} {what}" if what[:1].islower() else f"{where}: {what}"
        for where, what in error.problems
    ] or [error.message]
    detail = {"message": message, "code": code, "errors": errors}
    headers = dict(error.headers)
    if status == 401:
        headers["WWW-Authenticate"] = 'Token realm="pagerduty"'
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def from_domain(error: DomainError) -> ApiError:
    if isinstance(error, ValidationFailed):
        return ApiError(422, error.code, error.message, problems=error.problems)
    if isinstance(error, NotFound):
        return ApiError(404, error.code, error.message)
    if isinstance(error, Conflict):
        return ApiError(409, error.code, error.message)
    return ApiError(400, error.code, error.message)


def from_validation(items: Sequence[Any]) -> ApiError:
    """400 for a body that is not JSON; else 422 naming each invalid field (pydantic's and
    FastAPI's validation errors, whose places start with "body")."""
    problems = []
    for item in items:
        if item.get("type") == "json_invalid":
            return ApiError(400, "invalid_json", "the request body is not valid JSON")
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append((where or "body", str(item.get("msg", "invalid"))))
    message = "; ".join(f"{where}: {what}" for where, what in problems) or "invalid request"
    return ApiError(422, "invalid", message, problems=problems)


def install(
    app: FastAPI, not_found_page: Callable[[Request], Awaitable[Response]] | None = None
) -> None:
    """JSON errors; `not_found_page` answers unknown addresses outside API_PREFIXES."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return render(request, exc)

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return render(request, from_domain(exc))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return render(request, from_validation(exc.errors()))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if (
            exc.status_code == 404
            and not_found_page is not None
            and not request.url.path.startswith(API_PREFIXES)
        ):
            return await not_found_page(request)
        error = ApiError(exc.status_code, _code(exc.status_code), str(exc.detail))
        error.headers = dict(exc.headers or {})
        return render(request, error)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return render(request, from_exception(request.method, request.url.path, exc))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # Storage errors are answered where the other errors are (not where Starlette re-raises
    # after answering, which would log a second traceback for every request of an outage).
    for kind in OUTAGES:
        app.add_exception_handler(kind, unexpected)
    app.add_exception_handler(Exception, unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error answers an endpoint can give."""
    return {status: {"model": ErrorBody, "description": _describe(status)} for status in statuses}
