"""Schedules: layers rotating in the schedule's zone, restrictions, overrides, validation.

The examples pin the places where wall-clock arithmetic goes wrong: both daylight-saving
changes, a 30-minute one, a handoff the clocks skip or show twice, windows past midnight.
The properties check that `on_call` (a shift index computed per layer) and `shifts` (layers
generated and painted one over another) agree everywhere, in zones with odd offsets and
around their changes, and that `shifts` keeps its contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise, product
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pager.domain.errors import ValidationFailed
from pager.domain.schedule import (
    WEEKDAYS,
    Layer,
    OnCall,
    Override,
    Restriction,
    Schedule,
    Shift,
    ShiftLength,
    next_change,
    on_call,
    shifts,
    validate_schedule,
)

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
DAN = "dan@example.com"

DAILY = ShiftLength(1, "days")
WEEKLY = ShiftLength(1, "weeks")
TWELVE_HOURS = ShiftLength(12, "hours")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
CREATED = datetime(2024, 1, 1, tzinfo=UTC)

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"
SAO_PAULO = "America/Sao_Paulo"
ST_JOHNS = "America/St_Johns"


def local(zone: str, when: datetime) -> datetime:
    """The UTC instant at which `zone`'s clocks show `when` (naive, existing; first time)."""
    return when.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def wall(instant: datetime, zone: str) -> datetime:
    """What `zone`'s clocks show at `instant`, naive."""
    return instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def paris(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return local(PARIS, datetime(2024, month, day, hour, minute))


def schedule(zone: str, *layers: Layer, overrides: Iterable[Override] = ()) -> Schedule:
    return validate_schedule(Schedule("ops", "Ops", zone, layers, tuple(overrides)))


def override(
    oid: str, user: str, start: datetime, end: datetime, created_hour: int = 0
) -> Override:
    return Override(oid, user, start, end, CREATED + created_hour * HOUR)


def timeline(sched: Schedule, start: datetime, end: datetime) -> list[tuple[str, str, str]]:
    """The shifts in the schedule's local time, users by first name (* for an override)."""
    zone = ZoneInfo(sched.time_zone)

    def clock(instant: datetime) -> str:
        return f"{instant.astimezone(zone):%m-%d %H:%M %Z}"

    return [
        (
            shift.user.split("@")[0] + ("*" if shift.override else ""),
            clock(shift.start),
            clock(shift.end),
        )
        for shift in shifts(sched, start, end)
    ]


def day(value: date) -> str:
    return f"{value:%m-%d}"


# Daylight-saving changes: day shifts keep the wall clock, hour shifts keep elapsed time.

CHANGES = [
    pytest.param(PARIS, date(2024, 3, 31), "CET", "CEST", 23, 10, id="paris-spring"),
    pytest.param(PARIS, date(2024, 10, 27), "CEST", "CET", 25, 8, id="paris-fall"),
    pytest.param(NEW_YORK, date(2024, 3, 10), "EST", "EDT", 23, 10, id="new-york-spring"),
    pytest.param(NEW_YORK, date(2024, 11, 3), "EDT", "EST", 25, 8, id="new-york-fall"),
]
CHANGE_FIELDS = ("zone", "change", "before", "after", "hours", "morning")


@pytest.mark.parametrize(CHANGE_FIELDS, CHANGES)
def test_a_daily_nine_oclock_handoff_stays_at_nine_local_across_a_dst_change(
    zone: str, change: date, before: str, after: str, hours: int, morning: int
) -> None:
    eve = datetime.combine(change - DAY, time(9))
    sched = schedule(zone, Layer((ALICE, BOB), DAILY, eve))

    assert timeline(sched, local(zone, eve), local(zone, eve + 2 * DAY)) == [
        ("alice", f"{day(eve)} 09:00 {before}", f"{day(change)} 09:00 {after}"),
        ("bob", f"{day(change)} 09:00 {after}", f"{day(change + DAY)} 09:00 {after}"),
    ]
    first = shifts(sched, local(zone, eve), local(zone, eve + DAY))[0]
    assert first.end - first.start == hours * HOUR


@pytest.mark.parametrize(CHANGE_FIELDS, CHANGES)
def test_a_twelve_hour_shift_lasts_twelve_real_hours_across_a_dst_change(
    zone: str, change: date, before: str, after: str, hours: int, morning: int
) -> None:
    eve = datetime.combine(change - DAY, time(9))
    sched = schedule(zone, Layer((ALICE, BOB), TWELVE_HOURS, eve))

    found = shifts(sched, local(zone, eve), local(zone, eve) + 48 * HOUR)

    assert timeline(sched, local(zone, eve), local(zone, eve) + 48 * HOUR) == [
        ("alice", f"{day(eve)} 09:00 {before}", f"{day(eve)} 21:00 {before}"),
        ("bob", f"{day(eve)} 21:00 {before}", f"{day(change)} {morning:02}:00 {after}"),
        (
            "alice",
            f"{day(change)} {morning:02}:00 {after}",
            f"{day(change)} {morning + 12}:00 {after}",
        ),
        (
            "bob",
            f"{day(change)} {morning + 12}:00 {after}",
            f"{day(change + DAY)} {morning:02}:00 {after}",
        ),
    ]
    assert {shift.end - shift.start for shift in found} == {12 * HOUR}


def test_lord_howe_moves_its_clocks_by_half_an_hour_and_a_daily_shift_follows_them() -> None:
    sched = schedule(LORD_HOWE, Layer((ALICE, BOB), DAILY, datetime(2024, 10, 4, 9)))
    start = local(LORD_HOWE, datetime(2024, 10, 5, 9))
    end = local(LORD_HOWE, datetime(2024, 10, 7, 9))

    found = shifts(sched, start, end)

    assert timeline(sched, start, end) == [
        ("bob", "10-05 09:00 +1030", "10-06 09:00 +11"),
        ("alice", "10-06 09:00 +11", "10-07 09:00 +11"),
    ]
    assert found[0].end - found[0].start == timedelta(hours=23, minutes=30)


def test_lord_howe_twelve_hour_shifts_move_by_half_an_hour() -> None:
    sched = schedule(LORD_HOWE, Layer((ALICE, BOB), TWELVE_HOURS, datetime(2024, 10, 5, 9)))
    start = local(LORD_HOWE, datetime(2024, 10, 5, 9))

    assert timeline(sched, start, start + 36 * HOUR) == [
        ("alice", "10-05 09:00 +1030", "10-05 21:00 +1030"),
        ("bob", "10-05 21:00 +1030", "10-06 09:30 +11"),
        ("alice", "10-06 09:30 +11", "10-06 21:30 +11"),
    ]


@pytest.mark.parametrize(
    ("zone", "skipped", "handoff"),
    [
        pytest.param(NEW_YORK, datetime(2024, 3, 10, 2, 30), "03-10 03:00 EDT", id="new-york"),
        pytest.param(PARIS, datetime(2024, 3, 31, 2, 30), "03-31 03:00 CEST", id="paris"),
        pytest.param(LORD_HOWE, datetime(2024, 10, 6, 2, 15), "10-06 02:30 +11", id="lord-howe"),
        pytest.param(SAO_PAULO, datetime(2018, 11, 4, 0, 0), "11-04 01:00 -02", id="sao-paulo"),
    ],
)
def test_a_handoff_at_a_skipped_time_happens_when_the_clocks_jump_and_at_its_time_after(
    zone: str, skipped: datetime, handoff: str
) -> None:
    sched = schedule(zone, Layer((ALICE, BOB, CAROL), DAILY, skipped - 2 * DAY))
    tz = ZoneInfo(zone)
    day_before = local(zone, skipped - DAY)

    found = timeline(sched, day_before, day_before + 2 * DAY)

    assert [user for user, _, _ in found] == ["bob", "carol", "alice"]
    assert found[1][1] == handoff
    assert f"{(skipped + DAY).replace(tzinfo=tz):%m-%d %H:%M %Z}" == found[2][1]


def test_a_layer_starting_at_a_skipped_time_starts_when_the_clocks_jump() -> None:
    sched = schedule(NEW_YORK, Layer((ALICE, BOB), TWELVE_HOURS, datetime(2024, 3, 10, 2, 30)))
    jump = local(NEW_YORK, datetime(2024, 3, 10, 3))

    assert on_call(sched, jump - timedelta(microseconds=1)) == ()
    assert on_call(sched, jump) == (ALICE,)
    assert shifts(sched, jump - DAY, jump + DAY)[:2] == (
        Shift(ALICE, jump, jump + 12 * HOUR),
        Shift(BOB, jump + 12 * HOUR, jump + DAY),
    )


def test_a_handoff_at_a_time_shown_twice_happens_at_its_first_showing() -> None:
    # New York shows 01:00-02:00 twice on 3 November 2024: first EDT (-4), then EST (-5).
    sched = schedule(NEW_YORK, Layer((ALICE, BOB, CAROL), DAILY, datetime(2024, 11, 1, 1, 30)))
    first = datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT
    again = datetime(2024, 11, 3, 6, 15, tzinfo=UTC)  # 01:15 EST, after 01:30 EDT

    assert on_call(sched, first - MINUTE) == (BOB,)
    assert on_call(sched, first) == (CAROL,)
    assert on_call(sched, again) == (CAROL,)
    assert timeline(sched, first - DAY, local(NEW_YORK, datetime(2024, 11, 5, 1, 30))) == [
        ("bob", "11-02 01:30 EDT", "11-03 01:30 EDT"),
        ("carol", "11-03 01:30 EDT", "11-04 01:30 EST"),
        ("alice", "11-04 01:30 EST", "11-05 01:30 EST"),
    ]


def test_a_start_at_a_time_shown_twice_is_its_first_showing_whatever_its_fold() -> None:
    second_showing = datetime(2024, 11, 3, 1, 30, fold=1)
    sched = schedule(NEW_YORK, Layer((ALICE, BOB), DAILY, second_showing))

    first_showing = datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT

    assert on_call(sched, first_showing - MINUTE) == ()
    assert on_call(sched, first_showing) == (ALICE,)


def test_hour_shifts_from_a_time_shown_twice_count_from_its_first_showing() -> None:
    sched = schedule(
        NEW_YORK, Layer((ALICE, BOB), ShiftLength(1, "hours"), datetime(2024, 11, 3, 1, 30))
    )
    first = datetime(2024, 11, 3, 5, 30, tzinfo=UTC)

    assert shifts(sched, first - HOUR, first + 2 * HOUR) == (
        Shift(ALICE, first, first + HOUR),
        Shift(BOB, first + HOUR, first + 2 * HOUR),
    )


# Weekly rotations and restrictions.


def test_a_weekly_rotation_starting_on_a_sunday_hands_off_on_sundays() -> None:
    sched = schedule(PARIS, Layer((ALICE, BOB), WEEKLY, datetime(2024, 3, 24, 18)))

    assert on_call(sched, paris(3, 24, 17, 59)) == ()
    assert on_call(sched, paris(3, 31, 17, 59)) == (ALICE,)
    assert on_call(sched, paris(3, 31, 18)) == (BOB,)
    assert on_call(sched, paris(4, 7, 18)) == (ALICE,)
    assert timeline(sched, paris(3, 20), paris(4, 10)) == [
        ("alice", "03-24 18:00 CET", "03-31 18:00 CEST"),
        ("bob", "03-31 18:00 CEST", "04-07 18:00 CEST"),
        ("alice", "04-07 18:00 CEST", "04-10 00:00 CEST"),
    ]
    assert shifts(sched, paris(3, 20), paris(4, 1))[0].end - paris(3, 24, 18) == 167 * HOUR


NIGHTS = Restriction(("mon",), "22:00", "06:00")
EARLY_SUNDAY = Restriction(("sun",), "01:00", "04:00")
LATE_SUNDAY = Restriction(("sun",), "02:30", "05:00")
# Monday 6 May 2024: Dan all the time underneath; Alice then Bob on Monday nights above.
ALWAYS_DAN = Layer((DAN,), WEEKLY, datetime(2024, 5, 1))
MONDAY_NIGHTS = Layer((ALICE, BOB), WEEKLY, datetime(2024, 5, 6), (NIGHTS,))


@pytest.mark.parametrize(
    ("when", "who"),
    [
        pytest.param(paris(5, 6, 21, 59), DAN, id="mon-21:59"),
        pytest.param(paris(5, 6, 22), ALICE, id="mon-22:00"),
        pytest.param(paris(5, 6, 23), ALICE, id="mon-23:00"),
        pytest.param(paris(5, 7, 0), ALICE, id="tue-00:00"),
        pytest.param(paris(5, 7, 5, 59), ALICE, id="tue-05:59"),
        pytest.param(paris(5, 7, 6), DAN, id="tue-06:00"),
        pytest.param(paris(5, 7, 21, 59), DAN, id="tue-21:59"),
        pytest.param(paris(5, 7, 23), DAN, id="tue-23:00-not-a-monday"),
        pytest.param(paris(5, 13, 23), BOB, id="next-mon-23:00"),
    ],
)
def test_a_later_layer_wins_inside_its_window_and_the_one_below_covers_the_rest(
    when: datetime, who: str
) -> None:
    sched = schedule(PARIS, ALWAYS_DAN, MONDAY_NIGHTS)

    assert on_call(sched, when) == (who,)


def test_a_window_past_midnight_in_the_timeline() -> None:
    sched = schedule(PARIS, ALWAYS_DAN, MONDAY_NIGHTS)

    assert timeline(sched, paris(5, 6, 12), paris(5, 7, 12)) == [
        ("dan", "05-06 12:00 CEST", "05-06 22:00 CEST"),
        ("alice", "05-06 22:00 CEST", "05-07 06:00 CEST"),
        ("dan", "05-07 06:00 CEST", "05-07 12:00 CEST"),
    ]


def test_outside_its_windows_a_layer_has_nobody() -> None:
    sched = schedule(PARIS, MONDAY_NIGHTS)

    assert on_call(sched, paris(5, 7, 6)) == ()
    assert timeline(sched, paris(5, 6), paris(5, 14)) == [
        ("alice", "05-06 22:00 CEST", "05-07 06:00 CEST"),
        ("bob", "05-13 22:00 CEST", "05-14 00:00 CEST"),
    ]


def test_a_handoff_inside_a_window_splits_it() -> None:
    sched = schedule(PARIS, Layer((ALICE, BOB), DAILY, datetime(2024, 5, 6), (NIGHTS,)))

    assert timeline(sched, paris(5, 6), paris(5, 8)) == [
        ("alice", "05-06 22:00 CEST", "05-07 00:00 CEST"),
        ("bob", "05-07 00:00 CEST", "05-07 06:00 CEST"),
    ]


def test_windows_on_consecutive_days_join() -> None:
    afternoons = Restriction(("mon", "tue"), "12:00", "00:00")
    mornings = Restriction(("tue",), "00:00", "12:00")
    sched = schedule(PARIS, Layer((ALICE,), WEEKLY, datetime(2024, 5, 6), (afternoons, mornings)))

    assert timeline(sched, paris(5, 6), paris(5, 9)) == [
        ("alice", "05-06 12:00 CEST", "05-08 00:00 CEST"),
    ]


def test_a_window_follows_the_clocks_over_a_change() -> None:
    # Paris skipped 02:00-03:00 on Sunday 31 March 2024 and showed it twice on 27 October.
    early = schedule(PARIS, Layer((ALICE,), WEEKLY, datetime(2024, 3, 1), (EARLY_SUNDAY,)))
    late = schedule(PARIS, Layer((ALICE,), WEEKLY, datetime(2024, 3, 1), (LATE_SUNDAY,)))

    assert timeline(early, paris(3, 31), paris(3, 31, 12)) == [
        ("alice", "03-31 01:00 CET", "03-31 04:00 CEST"),
    ]
    assert timeline(early, paris(10, 27), paris(10, 27, 12)) == [
        ("alice", "10-27 01:00 CEST", "10-27 04:00 CET"),
    ]
    durations = [shift.end - shift.start for shift in shifts(early, paris(3, 30), paris(10, 30))]
    assert (durations[0], set(durations[1:-1]), durations[-1]) == (2 * HOUR, {3 * HOUR}, 4 * HOUR)
    assert timeline(late, paris(3, 31), paris(3, 31, 12)) == [
        ("alice", "03-31 03:00 CEST", "03-31 05:00 CEST"),
    ]
    assert timeline(late, paris(10, 27), paris(10, 27, 12)) == [
        ("alice", "10-27 02:30 CEST", "10-27 05:00 CET"),
    ]


def test_where_the_clocks_fell_back_past_midnight_the_next_days_window_had_begun() -> None:
    # St John's fell back at 00:01 until 2011: on 7 November 2010 its clocks showed Sunday
    # 00:00, then Saturday 23:01 to 23:59 a second time.
    sundays = Restriction(("sun",), "00:00", "06:00")
    sched = schedule(ST_JOHNS, Layer((ALICE,), WEEKLY, datetime(2010, 11, 1), (sundays,)))
    sunday = datetime(2010, 11, 7, 2, 30, tzinfo=UTC)
    again = datetime(2010, 11, 7, 3, tzinfo=UTC)

    assert wall(again, ST_JOHNS) == datetime(2010, 11, 6, 23, 30)
    assert on_call(sched, again) == (ALICE,)
    assert timeline(sched, sunday - DAY, sunday + DAY) == [
        ("alice", "11-07 00:00 NDT", "11-07 06:00 NST"),
    ]


def test_before_its_start_a_layer_has_nobody() -> None:
    sched = schedule(PARIS, ALWAYS_DAN, Layer((ALICE,), DAILY, datetime(2024, 5, 6, 9)))

    assert on_call(sched, paris(5, 6, 8, 59)) == (DAN,)
    assert timeline(sched, paris(5, 6), paris(5, 6, 12)) == [
        ("dan", "05-06 00:00 CEST", "05-06 09:00 CEST"),
        ("alice", "05-06 09:00 CEST", "05-06 12:00 CEST"),
    ]
    assert shifts(schedule(PARIS, MONDAY_NIGHTS), paris(4, 1), paris(5, 6)) == ()


def test_a_layer_without_users_has_nobody() -> None:
    # validate_schedule refuses it; the arithmetic does not divide by zero for all that.
    sched = Schedule("ops", "Ops", PARIS, (ALWAYS_DAN, Layer((), DAILY, datetime(2024, 5, 1))))

    assert on_call(sched, paris(5, 6)) == (DAN,)
    assert shifts(sched, paris(5, 6), paris(5, 7)) == (Shift(DAN, paris(5, 6), paris(5, 7)),)


# Overrides and merging.

ALWAYS_ALICE = Layer((ALICE,), DAILY, datetime(2024, 5, 1))


@pytest.mark.parametrize(
    ("bob_created", "carol_created", "handover", "at_one"),
    [
        pytest.param(0, 1, "12:00", CAROL, id="carol-created-later"),
        pytest.param(2, 1, "14:00", BOB, id="bob-created-later"),
        pytest.param(0, 0, "12:00", CAROL, id="same-time-greater-id"),
    ],
)
def test_where_overrides_overlap_the_latest_created_wins(
    bob_created: int, carol_created: int, handover: str, at_one: str
) -> None:
    # Bob covers 10:00-14:00 and Carol 12:00-16:00: 12:00-14:00 goes to the later created.
    bob = override("o-1", BOB, paris(5, 6, 10), paris(5, 6, 14), bob_created)
    carol = override("o-2", CAROL, paris(5, 6, 12), paris(5, 6, 16), carol_created)
    sched = schedule(PARIS, ALWAYS_ALICE, overrides=(carol, bob))

    assert timeline(sched, paris(5, 6, 8), paris(5, 6, 18)) == [
        ("alice", "05-06 08:00 CEST", "05-06 10:00 CEST"),
        ("bob*", "05-06 10:00 CEST", f"05-06 {handover} CEST"),
        ("carol*", f"05-06 {handover} CEST", "05-06 16:00 CEST"),
        ("alice", "05-06 16:00 CEST", "05-06 18:00 CEST"),
    ]
    assert on_call(sched, paris(5, 6, 13)) == (at_one,)


def test_an_override_covers_every_layer_even_one_with_nobody() -> None:
    cover = override("o-1", CAROL, paris(5, 7, 5), paris(5, 7, 7))
    sched = schedule(PARIS, MONDAY_NIGHTS, overrides=(cover,))

    assert on_call(sched, paris(5, 7, 6, 30)) == (CAROL,)
    assert timeline(sched, paris(5, 6, 12), paris(5, 7, 12)) == [
        ("alice", "05-06 22:00 CEST", "05-07 05:00 CEST"),
        ("carol*", "05-07 05:00 CEST", "05-07 07:00 CEST"),
    ]


def test_an_override_is_clipped_to_the_range() -> None:
    cover = override("o-1", BOB, paris(5, 5), paris(5, 9))
    sched = schedule(PARIS, ALWAYS_ALICE, overrides=(cover,))

    assert shifts(sched, paris(5, 6), paris(5, 7)) == (
        Shift(BOB, paris(5, 6), paris(5, 7), override=True),
    )
    assert shifts(sched, paris(5, 10), paris(5, 11)) == (Shift(ALICE, paris(5, 10), paris(5, 11)),)


def test_an_override_for_whoever_is_on_call_merges_into_their_shift() -> None:
    inside = override("o-1", ALICE, paris(5, 6, 12), paris(5, 6, 14))
    sched = schedule(PARIS, ALWAYS_ALICE, overrides=(inside,))

    assert shifts(sched, paris(5, 6, 8), paris(5, 6, 18)) == (
        Shift(ALICE, paris(5, 6, 8), paris(5, 6, 18), override=True),
    )


def test_an_override_extending_a_shift_merges_with_it() -> None:
    rotation = Layer((ALICE, BOB), DAILY, datetime(2024, 5, 1, 18))  # Alice on 5 May 18:00
    longer = override("o-1", ALICE, paris(5, 6, 17), paris(5, 6, 20))
    sched = schedule(PARIS, rotation, overrides=(longer,))

    assert timeline(sched, paris(5, 6, 12), paris(5, 6, 22)) == [
        ("alice*", "05-06 12:00 CEST", "05-06 20:00 CEST"),
        ("bob", "05-06 20:00 CEST", "05-06 22:00 CEST"),
    ]


def test_a_user_listed_twice_in_a_row_has_one_shift_twice_as_long() -> None:
    sched = schedule(PARIS, Layer((ALICE, ALICE, BOB), DAILY, datetime(2024, 5, 1, 9)))

    assert timeline(sched, paris(5, 1, 9), paris(5, 5, 9)) == [
        ("alice", "05-01 09:00 CEST", "05-03 09:00 CEST"),
        ("bob", "05-03 09:00 CEST", "05-04 09:00 CEST"),
        ("alice", "05-04 09:00 CEST", "05-05 09:00 CEST"),
    ]


def test_the_same_user_on_two_layers_is_one_shift() -> None:
    sched = schedule(PARIS, ALWAYS_ALICE, Layer((ALICE,), DAILY, datetime(2024, 5, 6), (NIGHTS,)))

    assert shifts(sched, paris(5, 6), paris(5, 8)) == (Shift(ALICE, paris(5, 6), paris(5, 8)),)


# Until when, and who next.


def test_next_change_says_until_when_and_who_next() -> None:
    sched = schedule(PARIS, ALWAYS_DAN, MONDAY_NIGHTS)

    assert next_change(sched, paris(5, 6, 23)) == OnCall((ALICE,), paris(5, 7, 6), (DAN,))
    assert next_change(sched, paris(5, 7, 6)) == OnCall((DAN,), paris(5, 13, 22), (BOB,))


def test_next_change_names_a_gap_as_nobody() -> None:
    sched = schedule(PARIS, MONDAY_NIGHTS)

    assert next_change(sched, paris(5, 6, 23)) == OnCall((ALICE,), paris(5, 7, 6), ())
    assert next_change(sched, paris(5, 7, 12)) == OnCall((), paris(5, 13, 22), (BOB,))


def test_next_change_beyond_the_horizon_is_none() -> None:
    alone = schedule(PARIS, ALWAYS_ALICE)
    nights = schedule(PARIS, MONDAY_NIGHTS)

    assert next_change(alone, paris(5, 6)) == OnCall((ALICE,), None, ())
    assert next_change(nights, paris(5, 7, 12), horizon=DAY) == OnCall((), None, ())
    assert next_change(nights, paris(4, 1), horizon=DAY) == OnCall((), None, ())


# Instants in, instants out.


def test_instants_come_out_in_utc_whatever_zone_they_went_in() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    cover = override(
        "o-1", BOB, paris(5, 6, 10).astimezone(tokyo), paris(5, 6, 11).astimezone(tokyo)
    )
    sched = schedule(PARIS, ALWAYS_ALICE, overrides=(cover,))

    found = shifts(sched, paris(5, 6, 9).astimezone(tokyo), paris(5, 6, 12).astimezone(tokyo))

    assert [shift.start.tzinfo for shift in found] == [UTC, UTC, UTC]
    assert [shift.end.tzinfo for shift in found] == [UTC, UTC, UTC]


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="not an aware instant"):
        on_call(schedule(PARIS, ALWAYS_ALICE), datetime(2024, 5, 6, 12))


def test_an_empty_range_has_no_shifts() -> None:
    sched = schedule(PARIS, ALWAYS_ALICE)

    assert shifts(sched, paris(5, 6), paris(5, 6)) == ()
    assert shifts(sched, paris(5, 7), paris(5, 6)) == ()


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


# Properties, on random schedules around the real daylight-saving changes of varied zones.

ZONES = (
    "UTC",
    PARIS,
    NEW_YORK,
    LORD_HOWE,
    "Asia/Kolkata",
    SAO_PAULO,
    "Pacific/Chatham",
    "Asia/Kathmandu",
    ST_JOHNS,
)
USERS = (ALICE, BOB, CAROL)
CLOCKS = (
    "00:00", "00:30", "01:00", "01:30", "02:00", "02:15", "02:30", "02:45",
    "03:00", "03:30", "03:45", "06:00", "09:00", "17:00", "22:00", "23:00", "23:30",
)  # fmt: skip


@cache
def changes(zone: str) -> tuple[datetime, ...]:
    """When `zone` changed its offset in 2010, 2018 and 2024 (or two plain days, if never)."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    for year in (2010, 2018, 2024):
        day = datetime(year, 1, 1, tzinfo=UTC)
        while day.year == year:
            if day.astimezone(tz).utcoffset() != (day + DAY).astimezone(tz).utcoffset():
                found.append(_bisect(tz, day, day + DAY))
            day += DAY
    return tuple(found) or (
        datetime(2024, 3, 31, 1, tzinfo=UTC),
        datetime(2024, 10, 27, tzinfo=UTC),
    )


def _bisect(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    while after - before > MINUTE:
        middle = before + (after - before) / 2
        if middle.astimezone(tz).utcoffset() == before.astimezone(tz).utcoffset():
            before = middle
        else:
            after = middle
    return after.replace(second=0, microsecond=0)


change_in = {zone: st.sampled_from(changes(zone)) for zone in ZONES}


@dataclass(frozen=True, slots=True)
class Case:
    """A schedule and an instant near one of its zone's changes, around which to look."""

    schedule: Schedule
    change: datetime


# Strategies are built once, and draw once each where they can: hypothesis checks a strategy
# each time one is made, and a draw costs more than most of what an example computes. Hours
# come from tuples, nearest first: spread evenly (st.integers favours small values) and
# shrinking towards the change.
shift_lengths = st.sampled_from(
    (
        *(ShiftLength(n, "hours") for n in (1, 2, 5, 8, 12, 24, 25, 36)),
        *(ShiftLength(n, "days") for n in (1, 2, 3)),
        *(ShiftLength(n, "weeks") for n in (1, 2)),
    )
)
day_sets = tuple(
    tuple(day for bit, day in enumerate(WEEKDAYS) if mask >> bit & 1) for mask in range(1, 128)
)
clock_pairs = tuple((start, end) for start in CLOCKS for end in CLOCKS if start != end)
restrictions = st.builds(
    lambda days, clocks: Restriction(days, *clocks),
    st.sampled_from(day_sets),
    st.sampled_from(clock_pairs),
)


def _minutes(first_hour: int, last_hour: int) -> st.SearchStrategy[int]:
    return st.builds(
        lambda hours, minutes: hours * 60 + minutes,
        st.sampled_from(sorted(range(first_hour, last_hour), key=abs)),
        st.integers(0, 59),
    )


minutes_around = _minutes(-4 * 24, 24)
lengths = {days: _minutes(0, days * 24).map(lambda minutes: max(minutes, 1)) for days in (2, 6, 20)}
users = st.sampled_from(
    tuple(product(USERS, repeat=3))
    + tuple(product(USERS, repeat=2))
    + tuple(product(USERS, repeat=1))
)
layer_parts = st.tuples(
    users,
    shift_lengths,
    st.sampled_from(tuple(range(31))),  # days before the change
    # Quarter hours off the change's clock time: within an hour, the skipped or repeated one.
    st.one_of(st.sampled_from(tuple(range(-4, 5))), st.sampled_from(tuple(range(-12, 13)))),
    st.lists(restrictions, max_size=2).map(tuple),
)
layer_lists = {n: st.lists(layer_parts, min_size=1, max_size=n) for n in (1, 3)}
override_lists = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        _minutes(-2 * 24, 24),
        lengths[2],
        st.integers(0, 2),
    ),
    max_size=3,
)


@st.composite
def cases(
    draw: st.DrawFn, *, restricted: bool = True, overridden: bool = True, max_layers: int = 3
) -> Case:
    zone = draw(st.sampled_from(ZONES))
    change = draw(change_in[zone])
    # Starts at clock times near the change's, days before it: later handoffs land in the gap.
    near = wall(change - MINUTE, zone) + MINUTE
    layers = tuple(
        Layer(
            users, length, near - days * DAY + quarters * 15 * MINUTE, windows if restricted else ()
        )
        for users, length, days, quarters, windows in draw(layer_lists[max_layers])
    )
    overrides = tuple(
        Override(
            f"o-{number}",
            user,
            change + offset * MINUTE,
            change + (offset + minutes) * MINUTE,
            CREATED + created * HOUR,
        )
        for number, (user, offset, minutes, created) in enumerate(draw(override_lists))
        if overridden
    )
    return Case(validate_schedule(Schedule("ops", "Ops", zone, layers, overrides)), change)


DST_ZONES = (PARIS, NEW_YORK, LORD_HOWE, SAO_PAULO, "Pacific/Chatham", ST_JOHNS)
day_lengths = st.sampled_from(
    (DAILY, ShiftLength(2, "days"), ShiftLength(3, "days"), WEEKLY, ShiftLength(2, "weeks"))
)
hour_lengths = st.sampled_from(tuple(ShiftLength(n, "hours") for n in (1, 5, 12, 24, 25, 36)))
dst_zones = st.sampled_from(DST_ZONES)
within_an_hour = st.sampled_from(sorted(range(-4, 5), key=abs))  # quarter hours
a_few = st.integers(0, 3)


@st.composite
def rotations(draw: st.DrawFn, lengths: st.SearchStrategy[ShiftLength]) -> Case:
    """Alice and Bob in one layer, handing off a few whole shifts after its start at a clock
    time within an hour of a change's (inside its skipped or repeated hour, often)."""
    zone = draw(dst_zones)
    change = draw(change_in[zone])
    length = draw(lengths)
    near = wall(change - MINUTE, zone) + MINUTE + draw(within_an_hour) * 15 * MINUTE
    start = near - draw(a_few) * length.period
    return Case(schedule(zone, Layer((ALICE, BOB), length, start)), change)


# An example checks hundreds of instants: tens of milliseconds, more under coverage on a busy
# machine, where hypothesis's 200 ms deadline would make the test flaky, not stricter.
relaxed = settings(deadline=None)


def instant_near(data: st.DataObject, change: datetime) -> datetime:
    return change + data.draw(minutes_around) * MINUTE


fractions = st.floats(0, 1)


def span_near(data: st.DataObject, change: datetime, days: int = 6) -> tuple[datetime, datetime]:
    """A range that holds the change: up to two days before it, up to `days` after."""
    return change - data.draw(lengths[2]) * MINUTE, change + data.draw(lengths[days]) * MINUTE


def covering(found: tuple[Shift, ...], instant: datetime) -> tuple[str, ...]:
    return tuple(shift.user for shift in found if shift.start <= instant < shift.end)


def merged(pieces: Iterable[Shift]) -> tuple[Shift, ...]:
    out: list[Shift] = []
    for piece in pieces:
        if out and out[-1].end == piece.start and out[-1].user == piece.user:
            last = out.pop()
            piece = Shift(piece.user, last.start, piece.end, last.override or piece.override)
        out.append(piece)
    return tuple(out)


def assert_on_call_agrees_with_shifts(
    sched: Schedule, start: datetime, end: datetime, instants: Iterable[datetime]
) -> None:
    """At each shift's edges and at `instants` in [start, end), on_call says what shifts say."""
    found = shifts(sched, start, end)
    edges = {start, end - timedelta(microseconds=1), *instants}
    edges |= {shift.start for shift in found} | {shift.end for shift in found}
    edges |= {shift.end - timedelta(microseconds=1) for shift in found}
    for instant in edges:
        if start <= instant < end:
            assert on_call(sched, instant) == covering(found, instant), instant


@relaxed
@given(case=cases(), data=st.data())
def test_on_call_is_whoever_the_shifts_say_at_every_instant(
    case: Case, data: st.DataObject
) -> None:
    start, end = span_near(data, case.change)
    anywhere = [start + (end - start) * data.draw(fractions) for _ in range(3)]
    around = [case.change + quarter * 15 * MINUTE for quarter in range(-8, 9)]

    assert_on_call_agrees_with_shifts(case.schedule, start, end, anywhere + around)


@relaxed
@given(case=rotations(day_lengths | hour_lengths), data=st.data())
def test_on_call_is_whoever_the_shifts_say_around_a_handoff_at_a_change(
    case: Case, data: st.DataObject
) -> None:
    start, end = span_near(data, case.change)
    around = [case.change + minutes * 5 * MINUTE for minutes in range(-36, 37)]

    assert_on_call_agrees_with_shifts(case.schedule, start, end, around)


@relaxed
@given(case=cases(), data=st.data())
def test_shifts_are_in_order_non_empty_disjoint_merged_and_inside_the_range(
    case: Case, data: st.DataObject
) -> None:
    start, end = span_near(data, case.change)

    found = shifts(case.schedule, start, end)

    for shift in found:
        assert start <= shift.start < shift.end <= end
        assert shift.start.tzinfo is UTC
        assert shift.end.tzinfo is UTC
    for earlier, later in pairwise(found):
        assert earlier.end <= later.start
        assert earlier.end < later.start or earlier.user != later.user


@relaxed
@given(case=cases(), data=st.data())
def test_shifts_over_a_range_are_the_shifts_over_its_two_parts_joined(
    case: Case, data: st.DataObject
) -> None:
    start, end = span_near(data, case.change)
    middle = start + (end - start) * data.draw(fractions)

    whole = shifts(case.schedule, start, end)

    assert whole == merged(
        shifts(case.schedule, start, middle) + shifts(case.schedule, middle, end)
    )


@relaxed
@given(case=cases(), data=st.data())
def test_an_override_shows_its_user_alone_where_nothing_later_covers_it(
    case: Case, data: st.DataObject
) -> None:
    start, end = span_near(data, case.change)
    found = shifts(case.schedule, start, end)
    precedence = {o.id: (o.created_at, o.id) for o in case.schedule.overrides}

    for cover in case.schedule.overrides:
        for fraction in (0.0, 0.5, data.draw(fractions)):
            instant = cover.start + (cover.end - cover.start) * fraction
            later = [
                o
                for o in case.schedule.overrides
                if o.start <= instant < o.end and precedence[o.id] > precedence[cover.id]
            ]
            if later or not (start <= instant < end) or instant >= cover.end:
                continue
            assert on_call(case.schedule, instant) == (cover.user,)
            assert [s.override for s in found if s.start <= instant < s.end] == [True]


@relaxed
@given(case=cases(restricted=False, overridden=False), data=st.data())
def test_without_restrictions_there_is_no_gap_once_the_first_layer_has_started(
    case: Case, data: st.DataObject
) -> None:
    start, end = span_near(data, case.change)
    zone = ZoneInfo(case.schedule.time_zone)
    # Read with fold 0, a skipped time is an instant after the jump: never too early.
    began = min(layer.start.replace(tzinfo=zone).astimezone(UTC) for layer in case.schedule.layers)
    start = max(start, began)
    if start >= end:
        return

    found = shifts(case.schedule, start, end)

    assert found[0].start == start
    assert found[-1].end == end
    assert all(a.end == b.start for a, b in pairwise(found))


@relaxed
@given(case=rotations(day_lengths), data=st.data())
def test_day_and_week_handoffs_keep_the_wall_clock_across_changes(
    case: Case, data: st.DataObject
) -> None:
    start, end = span_near(data, case.change, 20)
    layer, zone = case.schedule.layers[0], case.schedule.time_zone

    found = shifts(case.schedule, start, end)

    for handoff in [shift.start for shift in found if shift.start != start]:
        shown = wall(handoff, zone)
        planned = datetime.combine(shown.date(), layer.start.time())
        if shown == planned:
            assert handoff.astimezone(ZoneInfo(zone)).fold == 0  # its first showing
            assert (planned.date() - layer.start.date()).days % layer.shift.period.days == 0
        else:  # the clocks skipped it that day: the handoff is their jump over it
            assert wall(handoff - timedelta(microseconds=1), zone) < planned < shown


@relaxed
@given(case=rotations(hour_lengths), data=st.data())
def test_hour_handoffs_keep_the_elapsed_time_across_changes(
    case: Case, data: st.DataObject
) -> None:
    start, end = span_near(data, case.change, 6)
    period = case.schedule.layers[0].shift.period

    found = shifts(case.schedule, start, end)

    whole = [shift for shift in found if start < shift.start and shift.end < end]
    assert all(shift.end - shift.start == period for shift in whole)
    assert all((shift.start - found[-1].start) % period == timedelta(0) for shift in found[1:])


@relaxed
@given(case=cases(), data=st.data())
def test_next_change_agrees_with_on_call(case: Case, data: st.DataObject) -> None:
    instant = instant_near(data, case.change)

    found = next_change(case.schedule, instant, horizon=4 * DAY)

    assert found.users == on_call(case.schedule, instant)
    if found.until is None:
        ahead = shifts(case.schedule, instant, instant + 4 * DAY)
        assert [(s.user, s.start, s.end) for s in ahead] == [
            (user, instant, instant + 4 * DAY) for user in found.users
        ]
        assert found.next == ()
        return
    assert instant < found.until <= instant + 4 * DAY
    assert on_call(case.schedule, found.until - timedelta(microseconds=1)) == found.users
    assert on_call(case.schedule, found.until) == found.next
    assert found.next != found.users
