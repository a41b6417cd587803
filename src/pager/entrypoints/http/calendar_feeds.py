"""Calendar feeds: `/ical/{token}.ics`, which calendar programs poll without signing in (the
token is the credential), and the API that makes, lists and revokes them under
`/api/v1/users/{email}/calendar-feeds` (the user themselves or an admin) and
`/api/v1/schedules/{schedule_id}/calendar-feeds` (admins). The address is in the answer
that makes the feed, and nowhere else, ever; the logs show `/ical/[redacted]`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from pager.adapters import ical
from pager.application.calendar_feeds import Feed, Owner
from pager.entrypoints.http.auth import AdminCaller, Caller, UserCaller
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import forbidden, not_found, responses
from pager.entrypoints.http.schemas import ID_REGEX
from pager.entrypoints.http.users import Email

router = APIRouter(tags=["calendar feeds"])
Ctx = Annotated[Context, Depends(context)]
ScheduleId = Annotated[str, Path(pattern=ID_REGEX)]
FeedId = Annotated[str, Path(pattern="^[0-9a-f]{32}$")]
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
_NO_FEED = "there is no calendar feed at this address"


class CalendarFeedOut(BaseModel):
    id: str
    owner: str = Field(description="The user's email or the schedule's id.")
    kind: str = Field(description="`user` or `schedule`.")
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, feed: Feed) -> CalendarFeedOut:
        owner = feed.owner
        return cls(
            id=feed.id,
            owner=owner.subject,
            kind=owner.kind,
            created_at=feed.created_at,
            created_by=feed.created_by,
        )


class CalendarFeedCreated(CalendarFeedOut):
    url: str = Field(
        description="The feed's secret address, shown this once: subscribe to it from a "
        "calendar (Google Calendar: Other calendars, From URL; Apple Calendar: File, New "
        "Calendar Subscription). Revoke the feed if it leaks."
    )


class CalendarFeedList(BaseModel):
    feeds: list[CalendarFeedOut]


@router.get(
    "/ical/{token}.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "The feed (RFC 5545)."},
        **responses(404),
    },
)
def feed(token: str, ctx: Ctx) -> Response:
    """The feed's shifts from a week ago to eight weeks ahead. An unknown token and a revoked
    one get the same 404."""
    found = ctx.calendar_feeds.calendar(token) if _TOKEN.fullmatch(token) else None
    if found is None:
        raise not_found(_NO_FEED)
    return Response(
        ical.render(found, ctx.container.settings.links_url),
        media_type=ical.CONTENT_TYPE,
        headers={
            "Content-Disposition": 'inline; filename="pager-on-call.ics"',
            "Cache-Control": "private, max-age=300",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex, nofollow",
        },
    )


def _created(ctx: Ctx, owner: Owner, caller: Caller) -> CalendarFeedCreated:
    new = ctx.calendar_feeds.create(owner, caller.name)
    url = f"{ctx.container.settings.links_url}/ical/{new.token}.ics"
    return CalendarFeedCreated(**CalendarFeedOut.of(new.feed).model_dump(), url=url)


def _user_owner(email: str, caller: Caller, ctx: Ctx) -> Owner:
    """The user's feeds, for themselves or an admin (404 for no such user)."""
    assert caller.user is not None
    user = ctx.accounts.user(email)
    if user.id != caller.user.id and not caller.user.is_admin:
        raise forbidden("only admins may manage other users' calendar feeds")
    return Owner("user", user.email)


@router.post(
    "/api/v1/users/{email}/calendar-feeds",
    status_code=201,
    responses=responses(401, 403, 404, 422, 429),
)
def create_user_feed(email: Email, caller: UserCaller, ctx: Ctx) -> CalendarFeedCreated:
    """A new feed of the user's own shifts on every schedule. Its address is shown once."""
    return _created(ctx, _user_owner(email, caller, ctx), caller)


@router.get("/api/v1/users/{email}/calendar-feeds", responses=responses(401, 403, 404, 422, 429))
def list_user_feeds(email: Email, caller: UserCaller, ctx: Ctx) -> CalendarFeedList:
    """The user's feeds (never their addresses)."""
    found = ctx.calendar_feeds.feeds(_user_owner(email, caller, ctx))
    return CalendarFeedList(feeds=[CalendarFeedOut.of(feed) for feed in found])


@router.delete(
    "/api/v1/users/{email}/calendar-feeds/{feed_id}",
    status_code=204,
    responses=responses(401, 403, 404, 422, 429),
)
def revoke_user_feed(email: Email, feed_id: FeedId, caller: UserCaller, ctx: Ctx) -> Response:
    """The feed's address stops working at once."""
    ctx.calendar_feeds.revoke(_user_owner(email, caller, ctx), feed_id)
    return Response(status_code=204)


@router.post(
    "/api/v1/schedules/{schedule_id}/calendar-feeds",
    status_code=201,
    responses=responses(401, 403, 404, 422, 429),
)
def create_schedule_feed(
    schedule_id: ScheduleId, caller: AdminCaller, ctx: Ctx
) -> CalendarFeedCreated:
    """A new feed of everyone's shifts on the schedule, for anyone who has its address
    (shown once)."""
    return _created(ctx, Owner("schedule", schedule_id), caller)


@router.get(
    "/api/v1/schedules/{schedule_id}/calendar-feeds", responses=responses(401, 403, 404, 422, 429)
)
def list_schedule_feeds(
    schedule_id: ScheduleId, _caller: AdminCaller, ctx: Ctx
) -> CalendarFeedList:
    ctx.schedules.schedule(schedule_id)  # 404 for no such schedule
    found = ctx.calendar_feeds.feeds(Owner("schedule", schedule_id))
    return CalendarFeedList(feeds=[CalendarFeedOut.of(feed) for feed in found])


@router.delete(
    "/api/v1/schedules/{schedule_id}/calendar-feeds/{feed_id}",
    status_code=204,
    responses=responses(401, 403, 404, 422, 429),
)
def revoke_schedule_feed(
    schedule_id: ScheduleId, feed_id: FeedId, _caller: AdminCaller, ctx: Ctx
) -> Response:
    ctx.calendar_feeds.revoke(Owner("schedule", schedule_id), feed_id)
    return Response(status_code=204)
