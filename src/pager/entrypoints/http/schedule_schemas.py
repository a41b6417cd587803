"""Schedules' request and response bodies, shared by the API and the configuration file (which
accepts what the API accepts), and their translation to and from the domain."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from pager.application.schedules import MAX_LAYER_USERS, MAX_LAYERS, MAX_RESTRICTIONS
from pager.domain.readiness import Problem
from pager.domain.schedule import Layer as DomainLayer
from pager.domain.schedule import (
    OnCall,
    Override,
    Restriction,
    Schedule,
    Shift,
    ShiftLength,
)
from pager.entrypoints.http.schemas import Integer, Name, Request, Storable

Text = Annotated[str, StringConstraints(max_length=254), Storable]
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*")


def iso_text(value: Any) -> Any:
    """ISO 8601 text (or YAML's own timestamp), never a number read as seconds since 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE_TIME.fullmatch(value.strip()):
        raise ValueError("must be an ISO 8601 date-time such as 2026-03-02T09:00:00+01:00")
    return value


# Instants and local date-times are ISO 8601 text in JSON, and YAML's own timestamps in files.
Instant = Annotated[datetime, BeforeValidator(iso_text), Field(strict=False)]


def iso(at: datetime) -> str:
    """An instant as UTC ISO 8601, as every answer spells it: 2026-03-08T09:00:00Z."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ShiftIn(Request):
    """Exactly one of hours, days or weeks."""

    hours: Integer | None = None
    days: Integer | None = None
    weeks: Integer | None = None

    @model_validator(mode="after")
    def _one(self) -> ShiftIn:
        if sum(value is not None for value in (self.hours, self.days, self.weeks)) != 1:
            raise ValueError('give one of "hours", "days" or "weeks", such as {"weeks": 1}')
        return self

    def to_domain(self) -> ShiftLength:
        if self.hours is not None:
            return ShiftLength(self.hours, "hours")
        if self.days is not None:
            return ShiftLength(self.days, "days")
        assert self.weeks is not None  # checked by _one
        return ShiftLength(self.weeks, "weeks")


class RestrictionIn(Request):
    days: list[Text] = Field(max_length=7, description='Weekdays: "mon" to "sun".')
    from_: Text = Field(alias="from", description="HH:MM in the schedule's zone.")
    to: Text = Field(description="HH:MM; at or before `from`, the window passes midnight.")

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(
                'write the time in quotes, such as "17:00": YAML reads an unquoted 17:00 as '
                "a number"
            )
        return value

    def to_domain(self) -> Restriction:
        return Restriction(tuple(self.days), self.from_, self.to)  # type: ignore[arg-type]


class LayerIn(Request):
    users: list[Text] = Field(max_length=MAX_LAYER_USERS, description="Emails, in turn.")
    shift: ShiftIn
    start: Instant = Field(description="A local date-time in the schedule's zone, no offset.")
    restrictions: list[RestrictionIn] = Field(default=[], max_length=MAX_RESTRICTIONS)

    def to_domain(self) -> DomainLayer:
        return DomainLayer(
            tuple(self.users),
            self.shift.to_domain(),
            self.start,
            tuple(r.to_domain() for r in self.restrictions),
        )


class ScheduleIn(Request):
    name: Name
    time_zone: Text = Field(description='An IANA time zone, such as "Europe/Berlin".')
    layers: list[LayerIn] = Field(max_length=MAX_LAYERS, description="Later layers win.")

    def to_domain(self, schedule_id: str) -> Schedule:
        return Schedule(
            schedule_id, self.name, self.time_zone, tuple(x.to_domain() for x in self.layers)
        )


class OverrideIn(Request):
    user: Text
    start: Instant
    end: Instant


class OverrideOut(BaseModel):
    id: str
    user: str
    start: str
    end: str

    @classmethod
    def of(cls, override: Override) -> OverrideOut:
        return cls(
            id=override.id, user=override.user, start=iso(override.start), end=iso(override.end)
        )


def layer_json(layer: DomainLayer) -> dict[str, Any]:
    """A layer as the API and the configuration file write it."""
    data: dict[str, Any] = {
        "users": list(layer.users),
        "shift": {layer.shift.unit: layer.shift.count},
        "start": layer.start.isoformat(),
    }
    if layer.restrictions:
        data["restrictions"] = [
            {"days": list(r.days), "from": r.from_, "to": r.to} for r in layer.restrictions
        ]
    return data


class ScheduleOut(BaseModel):
    id: str
    name: str
    time_zone: str
    layers: list[dict[str, Any]]
    overrides: list[OverrideOut] = Field(description="Those that have not ended.")

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleOut:
        return cls(
            id=schedule.id,
            name=schedule.name,
            time_zone=schedule.time_zone,
            layers=[layer_json(layer) for layer in schedule.layers],
            overrides=[OverrideOut.of(o) for o in schedule.overrides],
        )


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class ShiftOut(BaseModel):
    user: str
    start: str
    end: str
    override: bool

    @classmethod
    def of(cls, shift: Shift) -> ShiftOut:
        return cls(
            user=shift.user, start=iso(shift.start), end=iso(shift.end), override=shift.override
        )


class ShiftList(BaseModel):
    shifts: list[ShiftOut]


class OnCallOut(BaseModel):
    schedule: str
    name: str
    users: list[str]
    until: str | None = Field(description="None: no change in the next 92 days.")
    next: list[str]

    @classmethod
    def of(cls, schedule: Schedule, on_call: OnCall) -> OnCallOut:
        return cls(
            schedule=schedule.id,
            name=schedule.name,
            users=list(on_call.users),
            until=None if on_call.until is None else iso(on_call.until),
            next=list(on_call.next),
        )


class OnCallList(BaseModel):
    oncall: list[OnCallOut]


def problem_path(problem: Problem) -> str:
    """Where in the console it is fixed: the schedule (to cover the gap), the policy's
    editor, or the users (to give someone a contact method)."""
    if problem.kind == "unreachable_user":
        return "/admin"
    if problem.schedule is not None:
        return f"/schedules/{problem.schedule}"
    return f"/policies/{problem.policy}/edit"


class ProblemOut(BaseModel):
    kind: str = Field(description="schedule_gap, unreachable_user or level_pages_nobody.")
    message: str
    start: str = Field(description="When it first happens (UTC).")
    end: str = Field(description="Until when, that first time.")
    count: int = Field(description="How many such spans the next 14 days have.")
    schedule: str | None
    policy: str | None
    level: int | None
    user: str | None
    link: str = Field(description="Where in the console to fix it.")

    @classmethod
    def of(cls, problem: Problem, base_url: str) -> ProblemOut:
        return cls(
            kind=problem.kind,
            message=problem.message,
            start=iso(problem.start),
            end=iso(problem.end),
            count=problem.count,
            schedule=problem.schedule,
            policy=problem.policy,
            level=problem.level,
            user=problem.user,
            link=base_url + problem_path(problem),
        )


class ProblemList(BaseModel):
    problems: list[ProblemOut]
