"""/api/v1/services/{id}/maintenance: a service's maintenance windows. While one is in force,
alerts with no incident open are recorded and page nobody; those still firing at its end
open the incident then."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from pager.domain.errors import ValidationFailed
from pager.domain.maintenance import MAX_LENGTH
from pager.entrypoints.http.auth import UserCaller
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import not_found, responses
from pager.entrypoints.http.schedule_schemas import Instant
from pager.entrypoints.http.schemas import ID_REGEX, Integer, MaintenanceOut, Request

router = APIRouter(prefix="/api/v1/services", tags=["maintenance"])
Ctx = Annotated[Context, Depends(context)]
ServiceId = Annotated[str, Path(pattern=ID_REGEX)]
WindowId = Annotated[str, Path(pattern=ID_REGEX)]
MAX_MINUTES = int(MAX_LENGTH.total_seconds() // 60)


def _end_or_duration(schema: dict[str, Any]) -> None:
    """Stated as `window` checks it: exactly one of the two, neither of them null."""
    properties = schema["properties"]
    for name in ("end", "duration_minutes"):
        stated = dict(properties[name])
        kinds = [kind for kind in stated.pop("anyOf") if kind.get("type") != "null"]
        stated.pop("default", None)
        properties[name] = kinds[0] | stated
    schema["oneOf"] = [{"required": ["end"]}, {"required": ["duration_minutes"]}]


class MaintenanceIn(Request):
    """From `start` (now if left out) to `end`, or for `duration_minutes`: one of the two.
    `end` must be after `start` and in the future, at most 30 days after `start`; `start`
    at most a year ahead."""

    model_config = ConfigDict(json_schema_extra=_end_or_duration)

    start: Instant | None = Field(
        default=None, description="When it begins (ISO 8601 with an offset); now if left out."
    )
    end: Instant | None = Field(
        default=None,
        description="When it ends: after `start`, in the future, at most 30 days after start. "
        "Give `end` or `duration_minutes`.",
    )
    duration_minutes: Integer | None = Field(
        default=None, ge=1, le=MAX_MINUTES, description="How long it lasts, instead of `end`."
    )

    def window(self, now: datetime) -> tuple[datetime | None, datetime]:
        """(start, end) as given, an end from the duration; ValidationFailed naming `end`
        unless exactly one of the two is given."""
        given = {"end", "duration_minutes"} & self.model_fields_set
        if len(given) != 1 or getattr(self, given.pop()) is None:
            raise ValidationFailed((("end", "give either end or duration_minutes"),))
        if self.end is not None:
            return self.start, self.end
        assert self.duration_minutes is not None
        return self.start, (self.start or now) + timedelta(minutes=self.duration_minutes)


class MaintenanceList(BaseModel):
    service: str
    windows: list[MaintenanceOut] = Field(description="In force or to come, soonest first.")


@router.post(
    "/{service_id}/maintenance",
    status_code=201,
    responses=responses(400, 401, 403, 404, 413, 422, 429),
)
def schedule_maintenance(
    service_id: ServiceId, body: MaintenanceIn, caller: UserCaller, ctx: Ctx
) -> MaintenanceOut:
    """A maintenance window (201): from `start` (now if left out) to `end` (or for
    `duration_minutes`). Windows may overlap; an incident already open carries on."""
    start, end = body.window(ctx.container.clock.now())
    window_id = ctx.handlers.schedule_maintenance(service_id, start, end, caller.name)
    return _window(ctx, window_id)


@router.get("/{service_id}/maintenance", responses=responses(401, 403, 404, 422, 429))
def list_maintenance(service_id: ServiceId, _caller: UserCaller, ctx: Ctx) -> MaintenanceList:
    """The service's windows in force or to come."""
    if ctx.queries.service(service_id) is None:
        raise not_found(f"service {service_id!r} does not exist")
    windows = ctx.queries.maintenance_windows(service_id)
    return MaintenanceList(service=service_id, windows=[MaintenanceOut.of(w) for w in windows])


@router.delete(
    "/{service_id}/maintenance/{window_id}", responses=responses(401, 403, 404, 422, 429)
)
def end_maintenance(
    service_id: ServiceId, window_id: WindowId, caller: UserCaller, ctx: Ctx
) -> MaintenanceOut:
    """End the window now (cancel it, if it has not begun): the alerts it held that still
    fire open the incident at once. 404 if it has ended already."""
    ctx.handlers.end_maintenance(service_id, window_id, caller.name)
    return _window(ctx, window_id)


def _window(ctx: Context, window_id: str) -> MaintenanceOut:
    view = ctx.queries.maintenance_window(window_id)
    assert view is not None  # just committed
    return MaintenanceOut.of(view)
