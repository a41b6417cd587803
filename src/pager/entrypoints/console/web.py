"""What every console page shares: the state it reaches, the templates, the signed-in user,
CSRF-checked forms, and every error as a page of its own (never JSON, never a traceback)."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pager.adapters.ack_links import AckLinks
from pager.adapters.storage.api_tokens import SqlApiTokens
from pager.adapters.storage.engine import outage
from pager.application.accounts import Accounts, User
from pager.application.handlers import Handlers
from pager.application.ports import Clock
from pager.application.queries import ReadModel
from pager.application.schedules import Schedules
from pager.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from pager.entrypoints.console import display
from pager.entrypoints.console.session import COOKIE, Session, SessionCodec
from pager.entrypoints.console.throttle import SignInLimiter
from pager.entrypoints.http.context import Context
from pager.entrypoints.http.errors import RETRY_AFTER_OUTAGE, ApiError
from pager.entrypoints.http.schedule_schemas import problem_path

logger = logging.getLogger("pager.console")

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters.update(
    ago=display.ago,
    when=display.when,
    duration=display.duration,
    target=display.target,
    logged=display.logged,
    timeout_input=display.timeout_input,
    local=display.local,
    fix_path=problem_path,
)


@dataclass(frozen=True, slots=True)
class Console:
    """The console's share of the container, as `app.state.console`."""

    api: Context
    sessions: SessionCodec
    sign_in_limiter: SignInLimiter

    @property
    def tokens(self) -> SqlApiTokens:
        return self.api.container.api_tokens

    @property
    def ack_links(self) -> AckLinks:
        return self.api.container.ack_links

    @property
    def handlers(self) -> Handlers:
        return self.api.handlers

    @property
    def queries(self) -> ReadModel:
        return self.api.queries

    @property
    def accounts(self) -> Accounts:
        return self.api.accounts

    @property
    def schedules(self) -> Schedules:
        return self.api.schedules

    @property
    def clock(self) -> Clock:
        return self.api.container.clock

    def now(self) -> datetime:
        return self.clock.now()


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


ConsoleDep = Annotated[Console, Depends(console)]


class ConsoleError(Exception):
    """Answered with a page saying `title` and `message` (and a link back, if given)."""

    def __init__(
        self, status: int, title: str, message: str, back: tuple[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.back = back


class SignInRequired(Exception):
    pass


def forbidden() -> ConsoleError:
    return ConsoleError(
        403, "Admins only", "Only admins may change this. Ask an admin.", ("/", "Dashboard")
    )


def not_found(what: str) -> ConsoleError:
    return ConsoleError(404, "Not found", f"{what} does not exist.", ("/", "Dashboard"))


# -- the session and the signed-in user


def session_of(request: Request) -> Session:
    """The visit's session, read from its cookie once per request."""
    found: Session | None = getattr(request.state, "session", None)
    if found is None:
        c = console(request)
        found = c.sessions.load(request.cookies.get(COOKIE), int(c.now().timestamp()))
        request.state.session = found
    return found


def signed_in_user(request: Request, c: ConsoleDep) -> User:
    session = session_of(request)
    if session.session_id is None or session.user_id is None:
        raise SignInRequired
    user = c.accounts.session_user(session.session_id, session.user_id)
    if user is None:
        # Signed out, expired, their password changed or they were removed: it is over.
        session.sign_out()
        raise SignInRequired
    request.state.user = user
    return user


def admin_user(user: Annotated[User, Depends(signed_in_user)]) -> User:
    if not user.is_admin:
        raise forbidden()
    return user


UserDep = Annotated[User, Depends(signed_in_user)]
AdminDep = Annotated[User, Depends(admin_user)]


async def posted_form(request: Request) -> FormData:
    """The form, once its CSRF token is checked against the session's."""
    try:
        form = await request.form(max_files=0, max_fields=2000)
    except Exception:  # malformed bodies of every kind: the client's fault, said plainly
        raise ConsoleError(400, "Bad form", "That form could not be read.") from None
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not isinstance(given, str) or not session_of(request).csrf_matches(given):
        raise ConsoleError(
            403,
            "This page has expired",
            "The form was older than your session. Go back, reload the page and try again.",
        )
    return form


FormDep = Annotated[FormData, Depends(posted_form)]


def field(form: FormData, name: str, max_length: int = 1000) -> str:
    """A text field, stripped; too long or not text is an error the user can fix."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise ConsoleError(400, "Bad form", f"{name} must be text.")
    if len(value) > max_length:
        raise ConsoleError(400, "Bad form", f"{name} is longer than {max_length} characters.")
    return value.replace("\x00", "").strip()


# -- answers


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def router() -> APIRouter:
    """A router for console pages: kept out of the OpenAPI document, errors as pages."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def render(
    request: Request, template: str, status: int = 200, *, anonymous: bool = False, **context: Any
) -> HTMLResponse:
    """The page. `anonymous` pages (ack links) neither read nor set the session cookie."""
    user: User | None = None if anonymous else getattr(request.state, "user", None)
    csrf, flashes = "", []
    if not anonymous:
        session = session_of(request)
        csrf = session.csrf
        # A background refresh must not eat the messages meant for the next page shown.
        flashes = [] if is_htmx(request) else session.take_flashes()
    html = _environment.get_template(template).render(
        user=user,
        csrf=csrf,
        flashes=flashes,
        now=console(request).now(),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def redirect(request: Request, url: str) -> Response:
    """303 See Other (POST, then GET); for htmx, a full-page navigation."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


_LOCAL_PATH = re.compile(r"/(?![/\\])[^\s\\]*")


def local_path(value: object, default: str = "/") -> str:
    """`value` if it is a path on this site (so never an open redirect), else `default`."""
    if isinstance(value, str) and len(value) <= 500 and _LOCAL_PATH.fullmatch(value):
        return value
    return default


def _error_page(request: Request, error: Exception) -> Response:
    if isinstance(error, SignInRequired):
        target = request.url.path if request.method == "GET" else "/"
        if request.url.query and request.method == "GET":
            target += "?" + request.url.query
        url = "/login" if target == "/" else f"/login?next={quote(target, safe='/')}"
        return redirect(request, url)
    if isinstance(error, ConsoleError):
        return _problem(request, error)
    if isinstance(error, DomainError):
        return _problem(request, _from_domain(error))
    if isinstance(error, ApiError) and error.status == 429:
        retry = error.headers.get("Retry-After", "a few")
        page = ConsoleError(429, "Too many tries", f"Wait {retry} seconds and try again.")
        return _problem(request, page)
    if isinstance(error, RequestValidationError):
        return _problem(request, ConsoleError(400, "Bad request", "That address is not valid."))
    reason = outage(error)
    if reason is not None:
        logger.error("%s %s: %s", request.method, request.url.path, reason)
        return _outage_page(request)
    logger.error("error in %s %s", request.method, request.url.path, exc_info=error)
    page = ConsoleError(
        500, "Something broke", "Pager hit an internal error; the server log says more."
    )
    return _problem(request, page)


def _outage_page(request: Request) -> Response:
    page = ConsoleError(
        503, "Pager cannot reach its database", "Nothing was done. Try again in a minute."
    )
    response = _problem(request, page)
    response.headers["Retry-After"] = str(RETRY_AFTER_OUTAGE)
    return response


def _from_domain(error: DomainError) -> ConsoleError:
    back = ("/", "Dashboard")
    if isinstance(error, NotFound):
        return ConsoleError(404, "Not found", error.message, back)
    if isinstance(error, Conflict):
        return ConsoleError(409, "Not possible", error.message, back)
    if isinstance(error, ValidationFailed):
        return ConsoleError(422, "Not valid", error.message, back)
    return ConsoleError(400, "Not possible", error.message, back)


def _problem(request: Request, error: ConsoleError) -> Response:
    if is_htmx(request) and error.status >= 400:
        # htmx does not swap error answers; show the page itself instead.
        return Response(status_code=200, headers={"HX-Refresh": "true"})
    return render(
        request,
        "error.html",
        status=error.status,
        title=error.title,
        message=error.message,
        back=error.back,
    )


def _secure(response: Response, ack_page: bool) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cache-Control", "no-store")
    # An ack link is a credential: never send it to another site as a referrer.
    headers.setdefault("Referrer-Policy", "no-referrer" if ack_page else "same-origin")
    if ack_page:
        headers.setdefault("X-Robots-Tag", "noindex, nofollow")


class ConsoleRoute(APIRoute):
    """Errors become pages; the session cookie is written back when it changed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        ack_page = self.path_format.startswith("/ack/")

        async def route(request: Request) -> Response:
            return await _answer(request, handle, ack_page)

        return route


async def not_found_page(request: Request) -> Response:
    """The console's 404 page, with the menu for whoever is signed in: for an address that
    is no page here (the API's own 404 stays JSON)."""
    return await _answer(request, _no_such_page, ack_page=False)


async def _no_such_page(request: Request) -> Response:
    with contextlib.suppress(SignInRequired):
        await run_in_threadpool(signed_in_user, request, console(request))
    raise ConsoleError(404, "Not found", "There is no page at this address.", ("/", "Dashboard"))


async def _answer(
    request: Request, handle: Callable[[Request], Awaitable[Response]], ack_page: bool
) -> Response:
    try:
        response = await handle(request)
    except Exception as error:
        response = _error_page(request, error)
    session: Session | None = getattr(request.state, "session", None)
    if session is not None:
        try:
            console(request).sessions.save(session, response)
        except Exception as error:
            if outage(error) is None:
                raise
            # The signing key is in the database: the outage page, with no cookie.
            if response.status_code != 503:
                response = _error_page(request, error)
    _secure(response, ack_page)
    return response
