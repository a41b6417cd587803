"""Bodies of the incident actions: a note, a snooze, a reassignment."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from pager.domain.incident import MAX_NOTE_LENGTH
from pager.domain.policy import ScheduleTarget, UserTarget
from pager.entrypoints.http.errors import ApiError
from pager.entrypoints.http.schedule_schemas import Instant
from pager.entrypoints.http.schemas import NO_NUL, By, Email, Id, Request, Stated, Storable

NoteText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NOTE_LENGTH), Storable, Stated(NO_NUL)
]


class NoteIn(Request):
    text: NoteText = Field(description="Words for the incident's timeline.")
    by: By | None = Field(default=None, description="Who wrote it; the caller by default.")


class SnoozeIn(Request):
    until: Instant = Field(
        description="When the incident is triggered again, from level 1 of its next round: "
        "ISO 8601 with its UTC offset, after now and at most 7 days ahead. Snoozing again "
        "moves the time."
    )
    by: By | None = Field(default=None, description="Who snoozes; the caller by default.")


class ReassignIn(Request):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        # Exactly one of the two, as the schema says it (`target` says it as a 422).
        json_schema_extra={
            "oneOf": [
                {"required": ["user"], "properties": {"user": {"type": "string"}}},
                {"required": ["schedule"], "properties": {"schedule": {"type": "string"}}},
            ]
        },
    )

    user: Email | None = Field(default=None, description="A user's email: paged now.")
    schedule: Id | None = Field(
        default=None, description="A schedule: whoever it has on call now is paged."
    )
    by: By | None = Field(default=None, description="Who reassigns; the caller by default.")

    def target(self) -> UserTarget | ScheduleTarget:
        """Exactly one of `user` and `schedule`; else a 422 naming them."""
        if (self.user is None) == (self.schedule is None):
            what = "give exactly one of user and schedule"
            raise ApiError(422, "invalid", f"user: {what}", problems=(("user", what),))
        if self.user is not None:
            return UserTarget(self.user.strip().lower())
        assert self.schedule is not None
        return ScheduleTarget(self.schedule)
