"""The incident page's actions in the console, on SQLite and PostgreSQL: un-acknowledge,
snooze (1 h, 4 h, until a time), reassign (a user or a schedule) and notes, escaped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pager.adapters.storage import tables as t
from tests.integration.test_console import RESPONDER, Console, make_console
from tests.support.clock import FakeClock


@pytest.fixture
def console(database_url: str, clock: FakeClock) -> Iterator[Console]:
    with make_console(database_url, clock) as console:
        yield console


def snooze_timers(console: Console) -> list[int]:
    with console.app.engine.connect() as conn:
        rows = conn.execute(sa.select(t.timers.c.level).where(t.timers.c.kind == "snooze"))
        return [row.level for row in rows]


def page_of(console: Console, incident_id: str) -> str:
    return console.responder.get(f"/incidents/{incident_id}").text


def test_un_acknowledging_from_the_incident_page(console: Console) -> None:
    incident_id = console.open_incident()
    assert f'action="/incidents/{incident_id}/unacknowledge"' not in page_of(console, incident_id)
    console.app.handlers.acknowledge(incident_id, "someone")
    assert f'action="/incidents/{incident_id}/unacknowledge"' in page_of(console, incident_id)
    console.responder.post(f"/incidents/{incident_id}/unacknowledge")
    assert console.incident_status(incident_id) == "triggered"
    page = page_of(console, incident_id)
    assert "its escalation resumes from its current level" in page
    assert f"Unacknowledged by {RESPONDER}" in page


def test_snoozing_for_an_hour_then_until_a_time(console: Console) -> None:
    incident_id = console.open_incident()
    console.responder.post(f"/incidents/{incident_id}/snooze", {"hours": "1"})
    assert console.incident_status(incident_id) == "acknowledged"
    assert snooze_timers(console) == [1]
    page = page_of(console, incident_id)
    assert 'id="snoozed-until"' in page
    assert f"Snoozed by {RESPONDER} until" in page

    later = (console.clock.now() + timedelta(days=2)).replace(tzinfo=None)
    until = later.strftime("%Y-%m-%dT%H:%M")  # as a datetime-local field sends it
    console.responder.post(f"/incidents/{incident_id}/snooze", {"until": until})
    assert snooze_timers(console) == [2]
    assert f"until {later:%Y-%m-%d %H:%M}" in page_of(console, incident_id)


@pytest.mark.parametrize(
    ("form", "said"),
    [({"until": "soon"}, "pick a date and time"), ({"until": "2020-01-01T00:00"}, "next 7 days")],
)
def test_a_wrong_snooze_time_is_said_and_changes_nothing(
    console: Console, form: dict[str, str], said: str
) -> None:
    incident_id = console.open_incident()
    console.responder.post(f"/incidents/{incident_id}/snooze", form)
    assert said in page_of(console, incident_id)
    assert console.incident_status(incident_id) == "triggered"
    assert (
        console.responder.post(f"/incidents/{incident_id}/snooze", {"hours": "3"}).status_code
        == 400
    )


def test_reassigning_to_a_user_or_a_schedule(console: Console) -> None:
    incident_id = console.open_incident()
    page = page_of(console, incident_id)
    assert f'<option value="user:{RESPONDER}">' in page
    console.responder.post(f"/incidents/{incident_id}/reassign", {"target": f"user:{RESPONDER}"})
    page = page_of(console, incident_id)
    assert f"user {RESPONDER} is being paged" in page
    assert f"Reassigned by {RESPONDER} to user {RESPONDER}" in page
    console.responder.post(f"/incidents/{incident_id}/reassign", {"target": "schedule:nope"})
    assert "there is no schedule" in page_of(console, incident_id)
    console.app.handlers.resolve(incident_id, "someone")
    console.responder.post(f"/incidents/{incident_id}/reassign", {"target": f"user:{RESPONDER}"})
    assert "was already resolved" in page_of(console, incident_id)


def test_a_note_is_on_the_timeline_escaped(console: Console) -> None:
    incident_id = console.open_incident()
    answer = console.responder.post(
        f"/incidents/{incident_id}/notes", {"text": "<script>alert(1)</script> rolled back"}
    )
    assert answer.status_code == 303
    page = page_of(console, incident_id)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; rolled back" in page
    assert "<script>alert(1)" not in page
    console.responder.post(f"/incidents/{incident_id}/notes", {"text": "   "})
    assert "must be between 1 and" in page_of(console, incident_id)
