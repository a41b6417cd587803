"""Schedules in the console (FastAPI's TestClient, real SQLite and PostgreSQL): on call now on
the dashboard, a schedule's next 14 days, and overrides in two taps."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest

from pager.domain.policy import EmailTarget, EscalationPolicy, Level, ScheduleTarget
from pager.domain.schedule import Layer, Restriction, Schedule, ShiftLength
from tests.integration.test_console import ADMIN, RESPONDER, Console, make_console
from tests.support.clock import FakeClock

# The console's clock: Thursday 2026-01-01 03:00 UTC.
DAILY = Schedule(
    "primary",
    "Primary",
    "UTC",
    (Layer((ADMIN, RESPONDER), ShiftLength(1, "days"), datetime(2026, 1, 1)),),
)


@pytest.fixture
def console(database_url: str, clock: FakeClock) -> Iterator[Console]:
    with make_console(database_url, clock) as console:
        console.app.schedules.put(DAILY)
        yield console


def test_the_dashboard_says_who_is_on_call_until_when_and_who_next(console: Console) -> None:
    page = console.responder.get("/").text
    entry = re.search(r'<li data-schedule="primary">.*?</li>', page, re.S)
    assert entry, page
    assert f"<strong>{ADMIN}</strong>" in entry[0]
    assert "until <time" in entry[0]
    assert "Fri 02 Jan 00:00 (UTC)" in entry[0]
    assert f"then {RESPONDER}" in entry[0]
    assert 'href="/schedules/primary"' in entry[0]


def test_a_schedule_page_draws_fourteen_days(console: Console) -> None:
    page = console.responder.get("/schedules/primary")
    assert page.status_code == 200
    days = re.findall(r'<li class="day" data-day="([\d-]+)">', page.text)
    assert days[0] == "2026-01-01"
    assert len(days) == 14
    first_day = page.text.split('data-day="2026-01-01"')[1].split("</li>")[0]
    assert f"{ADMIN} Thu 01 Jan 00:00 to Fri 02 Jan 00:00" in first_day
    assert re.search(r'<rect class="c0" x="0" y="0" width="1000"', first_day)
    second_day = page.text.split('data-day="2026-01-02"')[1].split("</li>")[0]
    assert re.search(r'<rect class="c1" x="0" y="0" width="1000"', second_day)
    assert console.responder.get("/schedules/nope").status_code == 404
    assert console.responder.get("/schedules/Not%20an%20id").status_code == 404


def test_take_this_shift_in_one_tap(console: Console) -> None:
    page = console.responder.get("/schedules/primary").text
    # The admin's shift, now: the responder may take it.
    form = re.search(
        r'<li class="shift" data-user="admin@example.com">.*?name="start" value="([^"]+)".*?'
        r'name="end" value="([^"]+)".*?Take this shift',
        page,
        re.S,
    )
    assert form, page
    taken = console.responder.post(
        "/schedules/primary/overrides", {"user": RESPONDER, "start": form[1], "end": form[2]}
    )
    assert taken.status_code == 303
    assert console.app.schedules.on_call()[0].on_call.users == (RESPONDER,)
    page = console.responder.get("/schedules/primary").text
    assert f"{RESPONDER} is on call until Fri 02 Jan 00:00." in page
    assert 'class="c1 override"' in page


def test_cover_me_until_hands_ones_own_shift_to_someone(console: Console) -> None:
    page = console.admin.get("/schedules/primary").text
    assert "Cover me" in page
    handed = console.admin.post(
        "/schedules/primary/overrides",
        {"user": RESPONDER, "start": "2026-01-01T03:00:00+00:00", "end": "2026-01-01T12:00"},
    )
    assert handed.status_code == 303
    (override,) = console.app.schedules.schedule("primary").overrides
    assert (override.user, override.end.isoformat()) == (RESPONDER, "2026-01-01T12:00:00+00:00")
    page = console.admin.get("/schedules/primary").text
    assert f"{RESPONDER} is on call until Thu 01 Jan 12:00." in page
    removed = console.admin.post(f"/schedules/primary/overrides/{override.id}/delete")
    assert removed.status_code == 303
    assert console.app.schedules.schedule("primary").overrides == ()


def test_a_responder_cannot_hand_on_a_shift_that_is_not_theirs(console: Console) -> None:
    refused = console.responder.post(
        "/schedules/primary/overrides",
        {"user": ADMIN, "start": "2026-01-01T03:00:00+00:00", "end": "2026-01-01T12:00"},
    )
    assert refused.status_code == 303
    page = console.responder.get("/schedules/primary").text
    assert "No override made: you may take a shift for yourself" in page
    assert console.app.schedules.schedule("primary").overrides == ()
    bad = console.responder.post(
        "/schedules/primary/overrides", {"user": RESPONDER, "start": "soon", "end": "later"}
    )
    assert bad.status_code == 303
    assert (
        "No override made: start: pick a date and time"
        in console.responder.get("/schedules/primary").text
    )


def test_the_schedules_page_lists_each_with_who_is_on_call(console: Console) -> None:
    page = console.responder.get("/schedules").text
    assert '<li data-schedule="primary">' in page
    assert 'href="/schedules"' in console.responder.get("/").text  # in the menu


def test_an_incident_whose_schedule_had_nobody_is_flagged_and_its_timeline_says_why(
    console: Console,
) -> None:
    nights = Schedule(
        "nights",
        "Nights",
        "UTC",
        (
            Layer(
                (ADMIN,),
                ShiftLength(1, "weeks"),
                datetime(2026, 1, 1),
                (Restriction(("mon",), "22:00", "06:00"),),
            ),
        ),
    )
    console.app.schedules.put(nights)
    levels = (
        Level((ScheduleTarget("nights"),), 60),
        Level((ScheduleTarget("primary"), EmailTarget("team@example.com")), 60),
    )
    console.app.handlers.define_policy(EscalationPolicy("ops", "Ops on call", levels))
    incident_id = console.open_incident()
    page = console.responder.get(f"/incidents/{incident_id}").text
    assert 'id="unreached-problem"' in page
    assert "nights had nobody on call." in page
    assert "schedule nights paged nobody: nobody is on call." in page
    assert "Nobody was paged: the next level follows at once." in page
    assert f"primary had {ADMIN} on call." in page
    assert "paged nobody</span>" in console.responder.get("/").text


def test_the_dashboard_lists_what_would_page_nobody_with_a_link_to_fix_it(
    console: Console,
) -> None:
    assert 'id="problems"' not in console.responder.get("/").text  # no policy pages primary
    levels = (Level((ScheduleTarget("primary"),), 60),)
    console.app.handlers.define_policy(EscalationPolicy("ops", "Ops on call", levels))
    page = console.responder.get("/").text
    panel = re.search(r'<section aria-labelledby="problems-heading".*?</section>', page, re.S)
    assert panel, page
    # Neither the admin nor the responder has a contact method yet.
    assert (
        f'<a href="/profile/{ADMIN}">{ADMIN} is on call on schedule primary but they have no '
        "enabled contact method</a>"
    ) in panel[0]
    assert (
        '<a href="/policies/ops/edit">escalation policy ops level 1 would page nobody</a>'
        in (panel[0])
    )
    assert "from <time" in panel[0]
