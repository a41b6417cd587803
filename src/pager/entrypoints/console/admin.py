"""Admin: users (add, change role, reset password, remove) and API tokens (create, shown
once; revoke)."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from pager.application.accounts import ROLES, UserInUse, UserNotFound
from pager.domain.errors import DomainError, ValidationFailed
from pager.entrypoints.console import web
from pager.entrypoints.console.web import AdminDep, ConsoleDep, FormDep

router = web.router()


def _page(
    request: Request,
    c: web.Console,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    token: tuple[str, str] | None = None,
    status: int = 200,
) -> Response:
    return web.render(
        request,
        "admin.html",
        status=status,
        users=c.accounts.users(),
        tokens=c.tokens.all(),
        roles=ROLES,
        errors=errors or {},
        form=form or {"email": "", "role": "responder"},
        token=token,
    )


@router.get("/admin")
def admin(request: Request, _user: AdminDep, c: ConsoleDep) -> Response:
    return _page(request, c)


@router.post("/admin/users")
def add_user(request: Request, _user: AdminDep, form: FormDep, c: ConsoleDep) -> Response:
    email = web.field(form, "email", 254)
    role = web.field(form, "role", 20)
    password = form.get("password", "")
    values = {"email": email, "role": role}
    if not isinstance(password, str) or len(password) > 1024:
        return _page(request, c, errors={"password": "at most 1024 characters"}, form=values)
    try:
        user = c.accounts.add_user(email, role, password or None)
    except ValidationFailed as failed:
        errors = dict(failed.problems)
        return _page(request, c, errors=errors, form=values, status=422)
    except DomainError as error:  # the user exists already
        return _page(request, c, errors={"email": error.message}, form=values, status=409)
    how = "can sign in here" if password else "has no password yet: use an API token or reset it"
    web.session_of(request).flash(f"Added {user.role} {user.email}, who {how}.")
    return web.redirect(request, "/admin")


@router.post("/admin/users/role")
def set_role(request: Request, user: AdminDep, form: FormDep, c: ConsoleDep) -> Response:
    email = web.field(form, "email", 254)
    role = web.field(form, "role", 20)
    session = web.session_of(request)
    if email.lower() == user.email:
        session.flash("You cannot change your own role: ask another admin.", "error")
        return web.redirect(request, "/admin")
    try:
        c.accounts.set_role(email, role)
    except (ValidationFailed, UserNotFound) as error:
        session.flash(error.message, "error")
    else:
        session.flash(f"{email} is now {'an' if role == 'admin' else 'a'} {role}.")
    return web.redirect(request, "/admin")


@router.post("/admin/users/password")
def reset_password(request: Request, _user: AdminDep, form: FormDep, c: ConsoleDep) -> Response:
    email = web.field(form, "email", 254)
    password = form.get("password", "")
    session = web.session_of(request)
    if not isinstance(password, str) or len(password) > 1024:
        session.flash("A password is at most 1024 characters.", "error")
        return web.redirect(request, "/admin")
    try:
        c.accounts.set_password(email, password)
    except (ValidationFailed, UserNotFound) as error:
        session.flash(f"{email}: {error.message}", "error")
    else:
        session.flash(f"New password set for {email}; their sessions are signed out.")
    return web.redirect(request, "/admin")


@router.post("/admin/users/delete")
def remove_user(request: Request, user: AdminDep, form: FormDep, c: ConsoleDep) -> Response:
    email = web.field(form, "email", 254)
    session = web.session_of(request)
    if email.lower() == user.email:
        session.flash("You cannot remove yourself.", "error")
        return web.redirect(request, "/admin")
    try:
        c.accounts.delete_user(email)
    except (UserNotFound, UserInUse) as error:  # a policy targets them: it names which
        session.flash(error.message, "error")
    else:
        session.flash(f"Removed {email} and their API tokens.")
    return web.redirect(request, "/admin")


@router.post("/admin/tokens")
def create_token(request: Request, _user: AdminDep, form: FormDep, c: ConsoleDep) -> Response:
    email = web.field(form, "email", 254)
    name = web.field(form, "name", 200)
    try:
        token = c.accounts.create_token(email, name)
    except DomainError as error:
        return _page(request, c, errors={"token": error.message}, status=422)
    return _page(request, c, token=(email.lower(), token))


@router.post("/admin/tokens/revoke")
def revoke_token(request: Request, _user: AdminDep, form: FormDep, c: ConsoleDep) -> Response:
    token_id = web.field(form, "id", 64)
    session = web.session_of(request)
    if c.tokens.revoke(token_id):
        # Each process trusts a token it checked for a moment (the API's credential cache).
        delay = c.api.container.settings.credential_cache_seconds
        when = f"within {delay:g} seconds" if delay > 0 else "at once"
        session.flash(f"Token revoked: it stops working {when}.")
    else:
        session.flash("That token was already revoked.", "error")
    return web.redirect(request, "/admin")
