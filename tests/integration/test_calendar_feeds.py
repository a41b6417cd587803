"""Calendar feeds through the API in process on real SQLite and PostgreSQL: a user's own
shifts on every schedule and a schedule's, parsed back with `icalendar` as a calendar program
would (RFC 5545: PRODID, VERSION, a name, events with UID, DTSTAMP and UTC times), from a
week back to eight weeks ahead of the injected clock; only the token's sha256 stored; who may
make, list and revoke them; a revoked token and one that never was answer alike."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pager.adapters.storage import tables as t
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.entrypoints.cli_admin import accounts_for
from pager.entrypoints.http.app import create_app
from tests.support.clock import FakeClock

ADMIN, ANN, BOB, CAT = "admin@example.com", "ann@example.com", "bob@example.com", "cat@example.com"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
NOW = START + timedelta(days=10, minutes=30)
DAILY: dict[str, Any] = {
    "name": "Primary",
    "time_zone": "Europe/Paris",
    "layers": [{"users": [ANN, BOB, CAT], "shift": {"days": 1}, "start": "2026-03-02T09:00:00"}],
}
WEEKLY: dict[str, Any] = {
    "name": "Secondary",
    "time_zone": "UTC",
    "layers": [{"users": [BOB, ANN], "shift": {"weeks": 1}, "start": "2026-03-02T09:00:00"}],
}


@dataclass
class Api:
    container: App
    clock: FakeClock
    admin: TestClient
    tokens: dict[str, str]

    def as_user(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[email]}"}


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    clock = FakeClock(NOW)
    settings = Settings(database_url=database_url, public_url="https://pager.example.com")
    container = bootstrap(settings, clock=clock)
    accounts = accounts_for(container.engine)
    tokens = {}
    for email, role in (
        (ADMIN, "admin"),
        (ANN, "responder"),
        (BOB, "responder"),
        (CAT, "responder"),
    ):
        accounts.add_user(email, role)
        tokens[email] = accounts.create_token(email)
    headers = {"Authorization": f"Bearer {tokens[ADMIN]}"}
    with TestClient(create_app(container), headers=headers) as client:
        for schedule_id, body in (("primary", DAILY), ("secondary", WEEKLY)):
            assert client.put(f"/api/v1/schedules/{schedule_id}", json=body).status_code == 201
        yield Api(container, clock, client, tokens)
    container.engine.dispose()


def path_of(url: str) -> str:
    assert url.startswith("https://pager.example.com/ical/")
    assert url.endswith(".ics")
    return url.removeprefix("https://pager.example.com")


def fetch(client: TestClient, url: str) -> icalendar.Calendar:
    answer = client.get(path_of(url), headers={"Authorization": ""})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(answer.content)
    assert isinstance(calendar, icalendar.Calendar)
    return calendar


def events(calendar: icalendar.Calendar) -> list[tuple[str, datetime, datetime]]:
    """(summary, start, end) of each event, checking what calendar programs need of it."""
    found = []
    for event in calendar.walk("VEVENT"):
        for name in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
            assert name in event, name
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        for value in (start, end, event.decoded("DTSTAMP")):
            assert value.utcoffset() == timedelta(0)
        assert event["DTSTART"].to_ical().endswith(b"Z")  # UTC form, no VTIMEZONE needed
        found.append((str(event["SUMMARY"]), start, end))
    return found


def test_a_users_feed_has_their_shifts_on_every_schedule_for_eight_weeks(api: Api) -> None:
    made = api.admin.post(f"/api/v1/users/{ANN}/calendar-feeds", headers=api.as_user(ANN))
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["kind"], body["owner"], body["created_by"]) == ("user", ANN, ANN)

    calendar = fetch(api.admin, body["url"])
    assert str(calendar["PRODID"]) == "-//Pager//On-call schedules//EN"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["X-WR-CALNAME"]) == f"On call: {ANN}"
    assert str(calendar["NAME"]) == f"On call: {ANN}"
    assert calendar.decoded("REFRESH-INTERVAL") == timedelta(hours=1)
    assert str(calendar["X-PUBLISHED-TTL"]) == "PT1H"  # what Apple and Outlook read
    found = events(calendar)
    uids = [str(event["UID"]) for event in calendar.walk("VEVENT")]
    assert len(set(uids)) == len(uids)

    window_start = datetime(2026, 3, 5, tzinfo=UTC)  # midnight UTC, a week before NOW
    window_end = NOW + timedelta(weeks=8)
    assert all(window_start <= start < end <= window_end for _, start, end in found)
    daily = [(start, end) for summary, start, end in found if summary == "On call: Primary"]
    weekly = [(start, end) for summary, start, end in found if summary == "On call: Secondary"]
    # Daily at 09:00 Paris time (08:00 UTC from March 2, 07:00 from the summer time on
    # March 29); Ann every third day from March 2 (Cat's of March 4 is cut at midnight).
    assert daily[0] == (datetime(2026, 3, 5, 8, tzinfo=UTC), datetime(2026, 3, 6, 8, tzinfo=UTC))
    assert daily[1] == (datetime(2026, 3, 8, 8, tzinfo=UTC), datetime(2026, 3, 9, 8, tzinfo=UTC))
    assert (datetime(2026, 4, 1, 7, tzinfo=UTC), datetime(2026, 4, 2, 7, tzinfo=UTC)) in daily
    assert all(end - start <= timedelta(days=1) for start, end in daily)
    # Weekly, Bob first: Ann's weeks begin March 9, 23, ...
    assert weekly[0] == (datetime(2026, 3, 9, 9, tzinfo=UTC), datetime(2026, 3, 16, 9, tzinfo=UTC))
    assert len(weekly) == 5
    assert weekly[-1] == (datetime(2026, 5, 4, 9, tzinfo=UTC), window_end)  # cut at 8 weeks
    assert [start for _, start, _ in found] == sorted(start for _, start, _ in found)

    # Bob's feed has none of Ann's shifts; the same shift keeps its UID from fetch to fetch.
    bob = api.admin.post(f"/api/v1/users/{BOB}/calendar-feeds").json()
    bob_starts = {start for _, start, _ in events(fetch(api.admin, bob["url"]))}
    assert bob_starts.isdisjoint(start for _, start, _ in found)
    assert [str(e["UID"]) for e in fetch(api.admin, body["url"]).walk("VEVENT")] == uids


def test_a_schedules_feed_has_everyone_and_the_window_moves_with_the_clock(api: Api) -> None:
    made = api.admin.post("/api/v1/schedules/primary/calendar-feeds")
    assert made.status_code == 201, made.text
    calendar = fetch(api.admin, made.json()["url"])
    assert str(calendar["X-WR-CALNAME"]) == "On call: Primary"
    found = events(calendar)
    assert {summary for summary, _, _ in found} == {f"{who} on call" for who in (ANN, BOB, CAT)}
    assert found[0][1] == datetime(2026, 3, 5, tzinfo=UTC)
    assert found[-1][2] == NOW + timedelta(weeks=8)  # the last shift, cut at eight weeks
    assert all(a[2] == b[1] for a, b in itertools.pairwise(found))  # no gaps

    api.clock.advance(timedelta(days=3).total_seconds())
    later = events(fetch(api.admin, made.json()["url"]))
    assert later[0][1] == datetime(2026, 3, 8, tzinfo=UTC)
    assert later[-1][2] == NOW + timedelta(days=3, weeks=8)


def test_only_the_tokens_sha256_is_stored_and_the_address_is_shown_once(api: Api) -> None:
    made = api.admin.post(f"/api/v1/users/{CAT}/calendar-feeds").json()
    token = path_of(made["url"]).removeprefix("/ical/").removesuffix(".ics")
    assert len(token) >= 43
    with api.container.engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(sa.select(t.calendar_feeds))]
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert (rows[0]["id"], rows[0]["created_by"]) == (made["id"], ADMIN)
    assert all(token not in str(value) for value in rows[0].values())
    listed = api.admin.get(f"/api/v1/users/{CAT}/calendar-feeds")
    assert listed.status_code == 200
    assert listed.json()["feeds"] == [{k: v for k, v in made.items() if k != "url"}]
    assert token not in listed.text


def test_a_revoked_feed_and_one_that_never_was_answer_the_same_404(api: Api) -> None:
    kept = api.admin.post(f"/api/v1/users/{ANN}/calendar-feeds", headers=api.as_user(ANN)).json()
    gone = api.admin.post(f"/api/v1/users/{ANN}/calendar-feeds", headers=api.as_user(ANN)).json()
    fetch(api.admin, gone["url"])
    revoked = api.admin.delete(
        f"/api/v1/users/{ANN}/calendar-feeds/{gone['id']}", headers=api.as_user(ANN)
    )
    assert revoked.status_code == 204
    after = api.admin.get(path_of(gone["url"]))
    never = api.admin.get("/ical/" + "A" * 43 + ".ics")
    odd = api.admin.get("/ical/not%20a%20token.ics")
    assert after.status_code == never.status_code == odd.status_code == 404
    assert after.json() == never.json() == odd.json()
    fetch(api.admin, kept["url"])  # the other feed still works
    listed = api.admin.get(f"/api/v1/users/{ANN}/calendar-feeds").json()["feeds"]
    assert [feed["id"] for feed in listed] == [kept["id"]]
    again = api.admin.delete(f"/api/v1/users/{ANN}/calendar-feeds/{gone['id']}")
    assert again.status_code == 404


def test_who_may_make_list_and_revoke_feeds(api: Api) -> None:
    bob = api.as_user(BOB)
    assert api.admin.post(f"/api/v1/users/{ANN}/calendar-feeds", headers=bob).status_code == 403
    assert api.admin.get(f"/api/v1/users/{ANN}/calendar-feeds", headers=bob).status_code == 403
    anns = api.admin.post(f"/api/v1/users/{ANN}/calendar-feeds").json()  # an admin may
    gone = api.admin.delete(f"/api/v1/users/{ANN}/calendar-feeds/{anns['id']}", headers=bob)
    assert gone.status_code == 403
    # Bob's own feed id under Ann's address is not found: a feed is revoked by its owner.
    bobs = api.admin.post(f"/api/v1/users/{BOB}/calendar-feeds", headers=bob).json()
    crossed = api.admin.delete(f"/api/v1/users/{ANN}/calendar-feeds/{bobs['id']}")
    assert crossed.status_code == 404
    fetch(api.admin, bobs["url"])

    schedule = "/api/v1/schedules/primary/calendar-feeds"
    assert api.admin.post(schedule, headers=bob).status_code == 403
    assert api.admin.get(schedule, headers=bob).status_code == 403
    assert api.admin.post(schedule, headers={"Authorization": ""}).status_code == 401
    assert api.admin.post("/api/v1/schedules/nope/calendar-feeds").status_code == 404
    assert api.admin.post("/api/v1/users/nobody@example.com/calendar-feeds").status_code == 404
    made = api.admin.post(schedule).json()
    assert api.admin.get(schedule).json()["feeds"][0]["id"] == made["id"]
    bad_id = api.admin.delete(f"{schedule}/not-an-id")
    assert bad_id.status_code == 422
    assert api.admin.delete(f"{schedule}/{made['id']}").status_code == 204
    assert api.admin.get(path_of(made["url"])).status_code == 404


def test_removing_the_schedule_or_the_user_removes_their_feeds(api: Api) -> None:
    schedule = api.admin.post("/api/v1/schedules/secondary/calendar-feeds").json()
    cat = api.admin.post(f"/api/v1/users/{CAT}/calendar-feeds").json()
    assert api.admin.delete("/api/v1/schedules/secondary").status_code == 204
    assert api.admin.get(path_of(schedule["url"])).status_code == 404
    assert (
        api.admin.put(
            "/api/v1/schedules/primary",
            json={**DAILY, "layers": [{**DAILY["layers"][0], "users": [ANN, BOB]}]},
        ).status_code
        == 200
    )
    assert api.admin.delete(f"/api/v1/users/{CAT}").status_code == 204
    assert api.admin.get(path_of(cat["url"])).status_code == 404
    with api.container.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.calendar_feeds)) == 0


def test_an_override_shows_in_the_feed_of_whoever_takes_it(api: Api) -> None:
    # Cat is in no layer of the weekly schedule: only her override puts her there.
    start, end = datetime(2026, 3, 20, 12, tzinfo=UTC), datetime(2026, 3, 20, 18, tzinfo=UTC)
    override = {"user": CAT, "start": start.isoformat(), "end": end.isoformat()}
    taken = api.admin.post("/api/v1/schedules/secondary/overrides", json=override)
    assert taken.status_code == 201, taken.text
    cat = api.admin.post(f"/api/v1/users/{CAT}/calendar-feeds").json()
    calendar = fetch(api.admin, cat["url"])
    secondary = [
        event for event in calendar.walk("VEVENT") if str(event["SUMMARY"]) == "On call: Secondary"
    ]
    assert [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in secondary] == [(start, end)]
    assert str(secondary[0]["DESCRIPTION"]) == f"{CAT} is on call for Secondary (an override)."
    assert str(secondary[0]["URL"]) == "https://pager.example.com/schedules/secondary"
