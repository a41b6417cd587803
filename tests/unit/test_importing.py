"""The parts every importer shares, and Opsgenie's time restrictions as Pager's windows."""

from __future__ import annotations

import pytest

from pager.application.import_opsgenie import _restrictions
from pager.application.importing import Ids, Report, e164, slug


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1-4155550100", "+14155550100"),
        ("44-(0)20 7946 0958", "+442079460958"),
        ("49-0151 2345 6789", "+4915123456789"),
        ("+44 20 7946 0958", "+442079460958"),
        ("1-12", None),
        ("call me", None),
    ],
)
def test_phone_numbers_become_e164(given: str, expected: str | None) -> None:
    assert e164(given) == expected


def test_ids_are_slugs_and_alike_names_are_told_apart() -> None:
    ids = Ids()
    assert slug("Payments On-Call (EU)") == "payments-on-call-eu"
    assert slug("Ärzte Bereitschaft") == "arzte-bereitschaft"
    assert ids.of("schedule", "a1b2c3d4e5", "Ops!") == "ops"
    assert ids.of("schedule", "f6e5d4c3b2", "ops") == "ops-f6e5d4c3"
    assert ids.of("schedule", "a1b2c3d4e5", "Ops!") == "ops"
    assert ids.of("escalation policy", "x", "ops") == "ops"


def test_a_changed_object_is_not_also_moved() -> None:
    report = Report()
    report.moved("user", "ann@example.com")
    report.changed("user", "ann@example.com", "role observer is a responder")
    report.moved("user", "bob@example.com")
    report.left("team", "Ops", "Pager has no teams")
    assert report.lines() == [
        "changed: user ann@example.com: role observer is a responder",
        "moved: user bob@example.com",
        "left behind: team Ops: Pager has no teams",
        "summary: 1 moved, 1 changed, 1 left behind",
    ]
    assert report.json("Opsgenie")["left_behind"] == [
        {"kind": "team", "name": "Ops", "reason": "Pager has no teams"}
    ]


def day_time(start: str, end: str) -> dict[str, object]:
    (d1, t1), (d2, t2) = start.split(), end.split()
    return {
        "startDay": d1, "startHour": int(t1[:2]), "startMin": int(t1[3:]),
        "endDay": d2, "endHour": int(t2[:2]), "endMin": int(t2[3:]),
    }  # fmt: skip


def test_time_of_day_restrictions_apply_every_day() -> None:
    restriction = {
        "type": "time-of-day",
        "restriction": {"startHour": 22, "startMin": 0, "endHour": 6, "endMin": 30},
    }
    assert _restrictions(restriction) == [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "22:00", "to": "06:30"}
    ]


def test_weekday_restrictions_are_cut_at_midnights() -> None:
    restriction = {
        "type": "weekday-and-time-of-day",
        "restrictions": [
            day_time("friday 18:00", "monday 08:00"),
            day_time("wednesday 09:00", "wednesday 17:30"),
        ],
    }
    assert _restrictions(restriction) == [
        {"days": ["mon"], "from": "00:00", "to": "08:00"},
        {"days": ["sat", "sun"], "from": "00:00", "to": "12:00"},
        {"days": ["wed"], "from": "09:00", "to": "17:30"},
        {"days": ["sat", "sun"], "from": "12:00", "to": "00:00"},
        {"days": ["fri"], "from": "18:00", "to": "00:00"},
    ]


def test_a_restriction_that_ends_where_it_starts_is_the_whole_week() -> None:
    restriction = {
        "type": "weekday-and-time-of-day",
        "restrictions": [day_time("monday 09:00", "monday 09:00")],
    }
    windows = _restrictions(restriction)
    assert {"days": ["mon"], "from": "09:00", "to": "00:00"} in windows
    assert {"days": ["mon"], "from": "00:00", "to": "09:00"} in windows
