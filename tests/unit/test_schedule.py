"""Schedules: the model, and validation that names every wrong place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pager.domain.errors import ValidationFailed
from pager.domain.schedule import (
    Layer,
    Override,
    Restriction,
    Schedule,
    ShiftLength,
    validate_schedule,
)

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"

DAILY = ShiftLength(1, "days")
HOUR = timedelta(hours=1)
CREATED = datetime(2024, 1, 1, tzinfo=UTC)

PARIS = "Europe/Paris"


def local(zone: str, when: datetime) -> datetime:
    """The UTC instant at which `zone`'s clocks show `when` (naive, existing; first time)."""
    return when.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def paris(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return local(PARIS, datetime(2024, month, day, hour, minute))


def override(
    oid: str, user: str, start: datetime, end: datetime, created_hour: int = 0
) -> Override:
    return Override(oid, user, start, end, CREATED + created_hour * HOUR)


NIGHTS = Restriction(("mon",), "22:00", "06:00")


@pytest.mark.parametrize(
    ("length", "period"),
    [
        (ShiftLength(12, "hours"), timedelta(hours=12)),
        (ShiftLength(3, "days"), timedelta(days=3)),
        (ShiftLength(2, "weeks"), timedelta(days=14)),
    ],
)
def test_a_shift_length_is_a_period(length: ShiftLength, period: timedelta) -> None:
    assert length.period == period


# Validation: every wrong place is named.

GOOD_LAYER = Layer((ALICE, BOB), DAILY, datetime(2024, 5, 1, 9))
GOOD = Schedule("ops", "Ops", PARIS, (GOOD_LAYER,))


def problems_of(sched: Schedule) -> tuple[tuple[str, str], ...]:
    with pytest.raises(ValidationFailed) as caught:
        validate_schedule(sched)
    return caught.value.problems


def places_of(sched: Schedule) -> list[str]:
    return [where for where, _ in problems_of(sched)]


def with_layer(**changes: object) -> Schedule:
    return replace(GOOD, layers=(GOOD_LAYER, replace(GOOD_LAYER, **changes)))  # type: ignore[arg-type]


def restricted(
    days: tuple[str, ...] = ("mon",), start: str = "09:00", end: str = "17:00"
) -> Schedule:
    return with_layer(restrictions=(NIGHTS, Restriction(days, start, end)))  # type: ignore[arg-type]


def with_override(**changes: object) -> Schedule:
    good = override("o-1", CAROL, paris(5, 6, 10), paris(5, 6, 12))
    return replace(GOOD, overrides=(replace(good, **changes),))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sched",
    [
        pytest.param(GOOD, id="plain"),
        pytest.param(replace(GOOD, time_zone="UTC"), id="utc"),
        pytest.param(replace(GOOD, time_zone="Asia/Kathmandu"), id="kathmandu"),
        pytest.param(with_layer(users=(ALICE, BOB, ALICE)), id="user-twice"),
        pytest.param(with_layer(shift=ShiftLength(1, "hours")), id="1-hour"),
        pytest.param(with_layer(shift=ShiftLength(10_000, "hours")), id="10000-hours"),
        pytest.param(with_layer(shift=ShiftLength(1_000, "days")), id="1000-days"),
        pytest.param(with_layer(shift=ShiftLength(100, "weeks")), id="100-weeks"),
        pytest.param(restricted(("mon", "tue", "wed", "thu", "fri"), "00:00", "23:59"), id="week"),
        pytest.param(restricted(("sun",), "23:59", "00:00"), id="past-midnight"),
        pytest.param(with_override(), id="override"),
        pytest.param(
            with_override(end=paris(5, 6, 12).astimezone(ZoneInfo("Asia/Tokyo"))), id="tokyo"
        ),
    ],
)
def test_a_valid_schedule_passes(sched: Schedule) -> None:
    assert validate_schedule(sched) is sched


@pytest.mark.parametrize(
    ("sched", "places"),
    [
        pytest.param(replace(GOOD, id="Ops Team"), ["id"], id="id"),
        pytest.param(replace(GOOD, id=""), ["id"], id="id-empty"),
        pytest.param(replace(GOOD, name=" \t"), ["name"], id="name-blank"),
        pytest.param(replace(GOOD, time_zone="Mars/Olympus"), ["time_zone"], id="zone-unknown"),
        pytest.param(replace(GOOD, time_zone="europe/paris"), ["time_zone"], id="zone-case"),
        pytest.param(replace(GOOD, time_zone="Europe"), ["time_zone"], id="zone-a-folder"),
        pytest.param(replace(GOOD, time_zone="../etc/passwd"), ["time_zone"], id="zone-path"),
        pytest.param(replace(GOOD, time_zone=""), ["time_zone"], id="zone-empty"),
        pytest.param(replace(GOOD, layers=()), ["layers"], id="no-layer"),
        pytest.param(with_layer(users=()), ["layer 2 users"], id="no-user"),
        pytest.param(with_layer(users=(ALICE, "bob")), ["layer 2 user 2"], id="user-not-email"),
        pytest.param(with_layer(shift=ShiftLength(0, "hours")), ["layer 2 shift"], id="0-hours"),
        pytest.param(with_layer(shift=ShiftLength(-1, "days")), ["layer 2 shift"], id="-1-days"),
        pytest.param(with_layer(shift=ShiftLength(10_001, "hours")), ["layer 2 shift"], id="hours"),
        pytest.param(with_layer(shift=ShiftLength(1_001, "days")), ["layer 2 shift"], id="days"),
        pytest.param(with_layer(shift=ShiftLength(101, "weeks")), ["layer 2 shift"], id="weeks"),
        pytest.param(
            with_layer(shift=ShiftLength(1, "months")),  # type: ignore[arg-type]
            ["layer 2 shift"],
            id="months",
        ),
        pytest.param(
            with_layer(start=datetime(2024, 5, 1, 9, tzinfo=UTC)), ["layer 2 start"], id="aware"
        ),
        pytest.param(restricted(days=()), ["layer 2 restriction 2 days"], id="no-day"),
        pytest.param(restricted(days=("monday",)), ["layer 2 restriction 2 days"], id="monday"),
        pytest.param(restricted(start="24:00"), ["layer 2 restriction 2 from"], id="from-24"),
        pytest.param(restricted(start="9:00"), ["layer 2 restriction 2 from"], id="from-9"),
        pytest.param(restricted(end="17:60"), ["layer 2 restriction 2 to"], id="to-60"),
        pytest.param(restricted(end="5pm"), ["layer 2 restriction 2 to"], id="to-5pm"),
        pytest.param(
            restricted(start="", end="17:00\n"),
            ["layer 2 restriction 2 from", "layer 2 restriction 2 to"],
            id="both-clocks",
        ),
        pytest.param(restricted(end="09:00"), ["layer 2 restriction 2"], id="from-is-to"),
        pytest.param(with_override(id="O 1"), ["override #1 id"], id="override-id"),
        pytest.param(with_override(user="carol"), ["override o-1 user"], id="override-user"),
        pytest.param(with_override(end=paris(5, 6, 10)), ["override o-1 end"], id="override-empty"),
        pytest.param(
            with_override(end=paris(5, 6, 9)), ["override o-1 end"], id="override-backwards"
        ),
        pytest.param(
            with_override(start=datetime(2024, 5, 6, 10)), ["override o-1 start"], id="naive-start"
        ),
        pytest.param(
            with_override(end=datetime(2024, 5, 6, 12)), ["override o-1 end"], id="naive-end"
        ),
        pytest.param(
            with_override(created_at=datetime(2024, 5, 6)),
            ["override o-1 created_at"],
            id="naive-created",
        ),
        pytest.param(
            Schedule(
                "Ops!",
                "",
                "Nowhere",
                (
                    Layer(
                        (),
                        ShiftLength(0, "weeks"),
                        datetime(2024, 5, 1, tzinfo=UTC),
                        (Restriction((), "x", "y"),),
                    ),
                ),
                (override("", "x", paris(5, 6, 12), paris(5, 6, 10)),),
            ),
            [
                "id",
                "name",
                "time_zone",
                "layer 1 users",
                "layer 1 shift",
                "layer 1 start",
                "layer 1 restriction 1 days",
                "layer 1 restriction 1 from",
                "layer 1 restriction 1 to",
                "override #1 id",
                "override #1 user",
                "override #1 end",
            ],
            id="every-problem-at-once",
        ),
    ],
)
def test_a_schedule_that_breaks_a_rule_names_each_place(sched: Schedule, places: list[str]) -> None:
    assert places_of(sched) == places


def test_two_overrides_with_one_id_are_named() -> None:
    first = override("o-1", CAROL, paris(5, 6, 10), paris(5, 6, 12))
    second = override("o-1", BOB, paris(5, 6, 14), paris(5, 6, 16))

    assert problems_of(replace(GOOD, overrides=(first, second))) == (
        ("override o-1 id", "another override has this id"),
    )


def test_the_error_message_says_where_and_what() -> None:
    with pytest.raises(
        ValidationFailed,
        match=r"^layer 2 restriction 2 days: a restriction needs at least one day$",
    ):
        validate_schedule(restricted(days=()))
