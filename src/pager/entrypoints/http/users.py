"""/api/v1/users and tokens: admins manage users; everyone may see who they are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from pager.domain.people import Person
from pager.domain.text import INVISIBLE, WHITESPACE
from pager.entrypoints.http.auth import AdminCaller, UserCaller
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import ApiError, forbidden, responses
from pager.entrypoints.http.schemas import (
    ProfileOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserList,
    UserOut,
    UserPutIn,
)

router = APIRouter(prefix="/api/v1", tags=["users"])
Ctx = Annotated[Context, Depends(context)]
# The accounts' login pattern (USER_PATTERN), without the "/" a path segment cannot hold.
_LOGIN = f"[^@/{WHITESPACE}{INVISIBLE}]"
# No min or max length beside the pattern, which bounds it (the fuzzer, given both, made up
# strings that match neither).
Email = Annotated[str, Path(pattern=f"^{_LOGIN}{{1,64}}@{_LOGIN}{{1,189}}$")]


@router.get("/me", responses=responses(401, 403, 429))
def me(caller: UserCaller) -> UserOut:
    assert caller.user is not None
    return UserOut.of(caller.user)


@router.get("/users", responses=responses(401, 403, 429))
def list_users(_caller: AdminCaller, ctx: Ctx) -> UserList:
    return UserList(users=[UserOut.of(user) for user in ctx.accounts.users()])


@router.post("/users", status_code=201, responses=responses(400, 401, 403, 409, 413, 422, 429))
def add_user(body: UserIn, _caller: AdminCaller, ctx: Ctx) -> UserOut:
    return UserOut.of(ctx.accounts.add_user(body.email, body.role, body.password))


@router.get("/users/{email}", responses=responses(401, 403, 404, 422, 429))
def get_user(email: Email, caller: UserCaller, ctx: Ctx) -> ProfileOut:
    """The user with their name, time zone, contact methods and notification rules (admins:
    anyone; others: themselves)."""
    assert caller.user is not None
    if email.strip().lower() != caller.user.email and not caller.user.is_admin:
        raise forbidden("only admins may see other users")
    return ProfileOut.of_profile(ctx.accounts.user(email), ctx.accounts.profile(email))


@router.put(
    "/users/{email}",
    responses={
        **responses(400, 401, 403, 404, 409, 413, 422, 429),
        201: {"model": ProfileOut, "description": "Created"},
    },
)
def put_user(
    email: Email, body: UserPutIn, caller: UserCaller, ctx: Ctx, response: Response
) -> ProfileOut:
    """Create the user (201; admins only) or replace their profile (200): name, time zone,
    contact methods and notification rules, as a whole. Users may change their own profile
    and password; only admins change a role or another user."""
    assert caller.user is not None
    me = caller.user
    mine = email.strip().lower() == me.email
    if not me.is_admin:
        if not mine:
            raise forbidden("only admins may change other users")
        if body.role is not None and body.role != me.role:
            raise forbidden("only admins may change roles")
    elif mine and body.role is not None and body.role != me.role:
        # As in the console: else the last admin could lock everyone out.
        raise ApiError(409, "conflict", "you cannot change your own role: ask another admin")
    wanted = body.to_domain(email)
    if not me.is_admin:
        _refuse_unverified_phones(ctx.accounts.profile(me.email), wanted)
    user, profile, created = ctx.accounts.put_user(email, wanted, body.role, body.password)
    if created:
        response.status_code = 201
    return ProfileOut.of_profile(user, profile)


def _refuse_unverified_phones(before: Person, after: Person) -> None:
    """A phone that users add for themselves is enabled only once they type back the code
    Pager sends it (on their profile page): over the API they may keep a phone enabled that
    already was, or add one disabled."""
    verified = {(m.type, m.address) for m in before.contact_methods if m.enabled}
    problems = [
        (
            f"contact method {number} enabled",
            "a phone you add yourself is enabled once you type back the code Pager sends "
            "it, on your profile page: add it with enabled false",
        )
        for number, method in enumerate(after.contact_methods, start=1)
        if method.type != "email"
        and method.enabled
        and (method.type, method.address) not in verified
    ]
    if problems:
        raise ApiError(
            403, "forbidden", "only admins may enable an unverified phone", problems=problems
        )


@router.delete("/users/{email}", status_code=204, responses=responses(401, 403, 404, 409, 422, 429))
def delete_user(email: Email, caller: AdminCaller, ctx: Ctx) -> Response:
    """Removes the user and their tokens. Admins cannot remove themselves; a user that an
    escalation policy targets is a 409 naming the policies."""
    assert caller.user is not None
    if email.strip().lower() == caller.user.email:
        raise ApiError(409, "conflict", "you cannot remove yourself")
    ctx.accounts.delete_user(email)
    return Response(status_code=204)


@router.post(
    "/users/{email}/tokens",
    status_code=201,
    responses=responses(400, 401, 403, 404, 413, 422, 429),
)
def create_token(
    email: Email, caller: UserCaller, ctx: Ctx, body: TokenIn | None = None
) -> TokenOut:
    """A new API token for the user (admins: any user; others: themselves). Shown once."""
    assert caller.user is not None
    user = ctx.accounts.user(email)
    if user.id != caller.user.id and not caller.user.is_admin:
        raise forbidden("only admins may make tokens for other users")
    token = ctx.accounts.create_token(user.email, (body.name or "") if body else "")
    return TokenOut(token=token, user=user.email)
