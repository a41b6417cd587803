"""Signing in and out, and changing one's own password."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Query, Request
from starlette.responses import Response

from pager.domain.errors import ValidationFailed
from pager.entrypoints.console import web
from pager.entrypoints.console.throttle import TooManyTries
from pager.entrypoints.console.web import ConsoleDep, FormDep, UserDep

router = web.router()
NOT_RECOGNISED = "Wrong email or password."


@router.get("/login")
def login_page(
    request: Request, c: ConsoleDep, next_page: Annotated[str, Query(alias="next")] = "/"
) -> Response:
    destination = web.local_path(next_page)
    if web.session_of(request).signed_in:
        try:
            web.signed_in_user(request, c)
            return web.redirect(request, destination)
        except web.SignInRequired:
            pass
    return _login(request, c, destination)


def _login(
    request: Request, c: web.Console, destination: str, email: str = "", error: str = ""
) -> Response:
    return web.render(
        request,
        "login.html",
        status=400 if error else 200,
        next=destination,
        email=email,
        error=error,
        no_users=not error and not c.accounts.users(),
    )


@router.post("/login")
def login(request: Request, form: FormDep, c: ConsoleDep) -> Response:
    email = web.field(form, "email", 254).lower()
    password = form.get("password", "")
    destination = web.local_path(form.get("next"))
    if not isinstance(password, str) or not email or not password:
        return _login(request, c, destination, email, "Enter your email and password.")
    client = request.client.host if request.client else None
    try:
        c.sign_in_limiter.check(email, client)
    except TooManyTries as limited:
        whose = f"for {email}" if limited.per_account else "from your address"
        wait = limited.retry_after
        return _login(
            request, c, destination, email, f"Too many tries {whose}: wait {wait} seconds."
        )
    signed_in = c.accounts.sign_in(email, password[:1024], timedelta(seconds=c.sessions.max_age))
    if signed_in is None:
        return _login(request, c, destination, email, NOT_RECOGNISED)
    c.sign_in_limiter.signed_in(email, client)
    session = web.session_of(request)
    if session.session_id is not None:  # whoever was signed in here before is not any more
        c.accounts.end_session(session.session_id)
    session.sign_in(signed_in.session_id, signed_in.user.id, int(c.now().timestamp()))
    return web.redirect(request, destination)


def _too_many(request: Request, c: web.Console, email: str) -> str | None:
    """A stolen session must not guess its owner's password faster than signing in could."""
    try:
        c.sign_in_limiter.check(email, request.client.host if request.client else None)
    except TooManyTries as limited:
        return f"too many tries: wait {limited.retry_after} seconds"
    return None


@router.get("/logout")
def logout_page(request: Request) -> Response:
    """Signing out is a POST (a link must not sign anyone out); this page asks for it."""
    if not web.session_of(request).signed_in:
        return web.redirect(request, "/login")
    return web.render(request, "logout.html")


@router.post("/logout")
def logout(request: Request, _form: FormDep, c: ConsoleDep) -> Response:
    session = web.session_of(request)
    if session.session_id is not None:
        c.accounts.end_session(session.session_id)  # a copy of the cookie is no use now
    session.sign_out()
    session.flash("You are signed out.")
    return web.redirect(request, "/login")


@router.get("/account")
def account(request: Request, _user: UserDep) -> Response:
    return web.render(request, "account.html", errors={})


@router.post("/account/password")
def change_password(request: Request, user: UserDep, form: FormDep, c: ConsoleDep) -> Response:
    current = web.field(form, "current", 1024)
    new = form.get("new", "")
    repeated = form.get("repeat", "")
    session = web.session_of(request)
    errors: dict[str, str] = {}
    if not isinstance(new, str) or not isinstance(repeated, str) or len(new) > 1024:
        errors["new"] = "at most 1024 characters"
    elif (limited := _too_many(request, c, user.email)) is not None:
        errors["current"] = limited
    elif c.accounts.check_password(user.email, current) is None:
        errors["current"] = "this is not your current password"
    elif new != repeated:
        errors["repeat"] = "the two new passwords differ"
    else:
        try:
            # This session stays signed in; every other one of this user ends.
            c.accounts.set_password(user.email, new, keep_session=session.session_id)
        except ValidationFailed as failed:
            errors["new"] = "; ".join(what for _, what in failed.problems)
    if errors:
        return web.render(request, "account.html", status=422, errors=errors)
    session.flash("Password changed. Your other sessions are signed out.")
    return web.redirect(request, "/account")
