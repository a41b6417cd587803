"""A schedule's page on a phone (390 px): the next 14 days as bars that span the screen, no
sideways scrolling, and "take this shift" in one tap; the dashboard says who is on call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, PHONE, Pager, sign_in
from tests.browser.test_phone import assert_fits, assert_tappable


def rotation(pager: Pager) -> tuple[str, list[str]]:
    """A new schedule of three people (long addresses, as real ones are), 8-hour shifts
    that began an hour ago, and a business-hours layer on top."""
    suffix = uuid.uuid4().hex[:8]
    people = [f"{name}.{suffix}.on-call-engineering@example.com" for name in ("ann", "bob", "cat")]
    for email in people:
        made = pager.api.post("/api/v1/users", json={"email": email, "role": "responder"})
        assert made.status_code == 201, made.text
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    schedule_id = f"rota-{suffix}"
    body = {
        "name": f"Payments primary {suffix}",
        "time_zone": "Europe/Berlin",
        "layers": [
            {
                "users": people,
                "shift": {"hours": 8},
                "start": start.astimezone().replace(tzinfo=None).isoformat(),
            },
            {
                "users": [people[2]],
                "shift": {"weeks": 1},
                "start": "2026-01-05T00:00",
                "restrictions": [{"days": ["sat"], "from": "10:00", "to": "14:00"}],
            },
        ],
    }
    answer = pager.api.put(f"/api/v1/schedules/{schedule_id}", json=body)
    assert answer.status_code == 201, answer.text
    return schedule_id, people


def test_a_schedule_page_reads_on_a_phone_and_a_shift_is_taken_in_one_tap(
    phone: Page, pager: Pager
) -> None:
    schedule_id, people = rotation(pager)
    sign_in(phone)
    on_call = phone.locator(f'#oncall [data-schedule="{schedule_id}"]')
    expect(on_call).to_be_visible()
    assert_fits(phone)

    on_call.locator("a.schedule-link").tap()
    phone.wait_for_url(f"**/schedules/{schedule_id}")
    days = phone.locator("#days .day")
    expect(days).to_have_count(14)
    assert_fits(phone)
    for index in (0, 13):
        bar = days.nth(index).locator("svg.bar").bounding_box()
        assert bar is not None
        assert bar["width"] >= PHONE["width"] * 0.6, bar  # the day spans most of the screen
        assert bar["x"] + bar["width"] <= PHONE["width"], bar

    first = phone.locator("#shifts > li").first
    take = first.get_by_role("button", name="Take this shift")
    assert_tappable(take)
    take.tap()
    expect(phone.locator(".flash.ok")).to_contain_text(f"{ADMIN} is on call until")
    assert_fits(phone)
    oncall = pager.api.get("/api/v1/oncall").json()["oncall"]
    (mine,) = [entry for entry in oncall if entry["schedule"] == schedule_id]
    assert mine["users"] == [ADMIN]
    expect(phone.locator("#overrides li")).to_have_count(1)
    assert_tappable(phone.locator("#overrides").get_by_role("button", name="Remove"))
    assert people  # the rotation's people stay on the page's legend
    expect(phone.locator("#legend li")).to_have_count(4)
