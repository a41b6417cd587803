"""Who is calling: a user with an API token (admin or responder), or a service's integration
key. Each dependency answers 401 for no or unknown credentials, 403 for the wrong kind,
and 429 past the credential's rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from pager.application.accounts import User, secret_hash
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import forbidden, unauthorized

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API token (`pagerd token create`) or, where noted, an integration key.",
)
genie_scheme = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    scheme_name="GenieKey",
    description="`GenieKey <integration key>`, as Opsgenie clients send it.",
)


@dataclass(frozen=True, slots=True)
class Caller:
    """A user, or the service whose integration key was presented (exactly one is set)."""

    user: User | None = None
    service_id: str | None = None

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.email
        return f"integration:{self.service_id}"

    def may_act_for(self, service_id: str) -> bool:
        return self.user is not None or self.service_id == service_id


def identify(ctx: Context, secret: str | None) -> Caller:
    """The caller that `secret` (token or integration key) stands for."""
    if not secret:
        raise unauthorized()
    user = ctx.accounts.user_for_token(secret)
    if user is not None:
        caller = Caller(user=user)
    else:
        service_id = ctx.accounts.service_for_key(secret)
        if service_id is None:
            raise unauthorized("the API token or integration key is not valid")
        caller = Caller(service_id=service_id)
    ctx.limiter.check(secret_hash(secret))
    return caller


def integration_key(ctx: Context, key: str | None) -> str:
    """The service whose integration key `key` is; API tokens are not accepted here."""
    if not key:
        raise unauthorized("an integration key is required")
    service_id = ctx.accounts.service_for_key(key)
    if service_id is None:
        if ctx.accounts.user_for_token(key) is not None:
            raise forbidden("this endpoint takes a service's integration key, not an API token")
        raise unauthorized("the integration key is not valid")
    ctx.limiter.check(secret_hash(key))
    return service_id


async def _caller(
    request: Request,
    ctx: Annotated[Context, Depends(context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    if credentials is None and request.headers.get("authorization"):
        raise unauthorized("use `Authorization: Bearer <token>`")
    return identify(ctx, None if credentials is None else credentials.credentials)


async def _user(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
    if caller.user is None:
        raise forbidden("an integration key may only send alerts for its own service")
    return caller


async def _admin(caller: Annotated[Caller, Depends(_user)]) -> Caller:
    assert caller.user is not None
    if not caller.user.is_admin:
        raise forbidden("only admins may do this")
    return caller


AnyCaller = Annotated[Caller, Depends(_caller)]
"""A user or an integration key (the endpoint checks which service the key may act for)."""
UserCaller = Annotated[Caller, Depends(_user)]
"""Any user: admin or responder."""
AdminCaller = Annotated[Caller, Depends(_admin)]


async def _bearer_key(
    ctx: Annotated[Context, Depends(context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    return integration_key(ctx, None if credentials is None else credentials.credentials)


async def _genie_key(
    ctx: Annotated[Context, Depends(context)],
    header: Annotated[str | None, Depends(genie_scheme)],
) -> str:
    scheme, _, key = (header or "").partition(" ")
    if scheme.lower() != "geniekey":
        raise unauthorized("use `Authorization: GenieKey <integration key>`")
    return integration_key(ctx, key.strip())


BearerKeyService = Annotated[str, Depends(_bearer_key)]
"""The service of the integration key given as a bearer token."""
GenieKeyService = Annotated[str, Depends(_genie_key)]
"""The service of the integration key given as `GenieKey <key>`."""
