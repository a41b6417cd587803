"""/api/v1/schedules and /api/v1/oncall: on-call schedules, their shifts and overrides, and
who is on call."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BeforeValidator

from pager.application.schedules import NotAllowed
from pager.entrypoints.http.auth import AdminCaller, UserCaller
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import forbidden, responses
from pager.entrypoints.http.schedule_schemas import (
    OnCallList,
    OnCallOut,
    OverrideIn,
    OverrideOut,
    ProblemList,
    ProblemOut,
    ScheduleIn,
    ScheduleList,
    ScheduleOut,
    ShiftList,
    ShiftOut,
    iso_text,
)
from pager.entrypoints.http.schemas import ID_REGEX

router = APIRouter(prefix="/api/v1", tags=["schedules"])
Ctx = Annotated[Context, Depends(context)]
ScheduleId = Annotated[str, Path(pattern=ID_REGEX)]
OverrideId = Annotated[str, Path(pattern=ID_REGEX)]
At = Annotated[
    datetime,
    BeforeValidator(iso_text),
    Query(description="An instant with its offset (ISO 8601)."),
]


@router.get("/schedules", responses=responses(401, 403, 429))
def list_schedules(_caller: UserCaller, ctx: Ctx) -> ScheduleList:
    return ScheduleList(schedules=[ScheduleOut.of(s) for s in ctx.schedules.schedules()])


@router.get("/schedules/{schedule_id}", responses=responses(401, 403, 404, 422, 429))
def get_schedule(schedule_id: ScheduleId, _caller: UserCaller, ctx: Ctx) -> ScheduleOut:
    return ScheduleOut.of(ctx.schedules.schedule(schedule_id))


@router.put(
    "/schedules/{schedule_id}",
    responses={
        **responses(400, 401, 403, 413, 422, 429),
        201: {"model": ScheduleOut, "description": "Created"},
    },
)
def put_schedule(
    schedule_id: ScheduleId, body: ScheduleIn, _caller: AdminCaller, ctx: Ctx, response: Response
) -> ScheduleOut:
    """Create (201) or replace (200) the schedule's name, zone and layers; its overrides
    stay. Every user a layer names must be a user of Pager. Pages follow at once."""
    if ctx.schedules.put(body.to_domain(schedule_id)):
        response.status_code = 201
    return ScheduleOut.of(ctx.schedules.schedule(schedule_id))


@router.delete(
    "/schedules/{schedule_id}", status_code=204, responses=responses(401, 403, 404, 409, 422, 429)
)
def delete_schedule(schedule_id: ScheduleId, _caller: AdminCaller, ctx: Ctx) -> Response:
    """A schedule that a policy pages cannot be deleted (409, naming the policies)."""
    ctx.schedules.delete(schedule_id)
    return Response(status_code=204)


@router.get("/schedules/{schedule_id}/shifts", responses=responses(401, 403, 404, 422, 429))
def list_shifts(
    schedule_id: ScheduleId, start: At, end: At, _caller: UserCaller, ctx: Ctx
) -> ShiftList:
    """The final shifts within [start, end), overrides included, in time order; adjacent
    shifts of one user merged. At most 366 days."""
    found = ctx.schedules.shifts(schedule_id, start, end)
    return ShiftList(shifts=[ShiftOut.of(shift) for shift in found])


@router.post(
    "/schedules/{schedule_id}/overrides",
    status_code=201,
    responses=responses(400, 401, 403, 404, 409, 413, 422, 429),
)
def add_override(
    schedule_id: ScheduleId, body: OverrideIn, caller: UserCaller, ctx: Ctx
) -> OverrideOut:
    """During [start, end) `user` alone is on call. Admins may override anyone; responders
    may take a shift for themselves, or hand a time that is wholly theirs to someone."""
    assert caller.user is not None
    try:
        override = ctx.schedules.add_override(
            schedule_id, body.user, body.start, body.end, caller.user
        )
    except NotAllowed as refused:
        raise forbidden(refused.message) from None
    return OverrideOut.of(override)


@router.delete(
    "/schedules/{schedule_id}/overrides/{override_id}",
    status_code=204,
    responses=responses(401, 403, 404, 422, 429),
)
def delete_override(
    schedule_id: ScheduleId, override_id: OverrideId, caller: UserCaller, ctx: Ctx
) -> Response:
    """Admins may delete any override; responders those they made or that are theirs."""
    assert caller.user is not None
    try:
        ctx.schedules.delete_override(schedule_id, override_id, caller.user)
    except NotAllowed as refused:
        raise forbidden(refused.message) from None
    return Response(status_code=204)


@router.get("/oncall/problems", responses=responses(401, 403, 429))
def oncall_problems(_caller: UserCaller, ctx: Ctx) -> ProblemList:
    """What would page nobody in the next 14 days: gaps in the schedules that policies page,
    people on call (or named by a policy) without an enabled contact method, and levels that
    would page nobody; each with when it first happens, how often, and where to fix it."""
    found = ctx.schedules.problems([view.policy for view in ctx.queries.policies()])
    base = ctx.container.settings.links_url
    return ProblemList(problems=[ProblemOut.of(problem, base) for problem in found])


@router.get("/oncall", responses=responses(401, 403, 422, 429))
def oncall(_caller: UserCaller, ctx: Ctx, at: At | None = None) -> OnCallList:
    """Every schedule: who is on call at `at` (now by default), until when, and who next
    (`until` is null when nothing changes in the next 92 days)."""
    found = ctx.schedules.on_call(at)
    return OnCallList(oncall=[OnCallOut.of(f.schedule, f.on_call) for f in found])
