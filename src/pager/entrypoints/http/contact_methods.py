"""/api/v1/users/{email}/contact-methods/{id}/test: page a contact method once, outside any
incident, and say what became of it (the user themselves, or an admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from pager.application.contact import TooMany
from pager.domain.policy import ID_PATTERN
from pager.entrypoints.http.auth import UserCaller
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import ApiError, forbidden, responses
from pager.entrypoints.http.schemas import ContactTestOut
from pager.entrypoints.http.users import Email

router = APIRouter(prefix="/api/v1", tags=["users"])
Ctx = Annotated[Context, Depends(context)]
MethodId = Annotated[str, Path(max_length=63, pattern=f"^{ID_PATTERN.pattern}$")]


def too_many(limited: TooMany) -> ApiError:
    return ApiError(
        429, "rate_limited", limited.message, headers={"Retry-After": str(limited.retry_after)}
    )


@router.post(
    "/users/{email}/contact-methods/{method_id}/test",
    responses=responses(401, 403, 404, 422, 429),
)
async def test_contact_method(
    email: Email, method_id: MethodId, caller: UserCaller, ctx: Ctx
) -> ContactTestOut:
    """Sends one test page through the method's real channel (email over SMTP, SMS through
    Twilio) and answers what became of it; a page the provider refused is still a 200,
    with `outcome` `failed` and the provider's answer."""
    assert caller.user is not None
    if email.strip().lower() != caller.user.email and not caller.user.is_admin:
        raise forbidden("only admins may test other users' contact methods")
    user = await run_in_threadpool(ctx.accounts.user, email)
    try:
        result = await ctx.container.contact_methods.send_test(
            user, method_id, by=caller.user.email
        )
    except TooMany as limited:
        raise too_many(limited) from None
    return ContactTestOut(
        contact_method=result.method.id,
        type=result.method.type,
        outcome=result.outcome,
        detail=result.detail,
        message=result.summary,
    )
