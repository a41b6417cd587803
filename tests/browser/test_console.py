"""What an on-call engineer does in the console, in Chromium: sign in, watch an alert arrive,
acknowledge it, resolve it, fix a policy, and acknowledge from an email."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, PASSWORD, PUBLIC_URL, Pager, sign_in


def test_sign_in_says_when_the_password_is_wrong(page: Page, pager: Pager) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Email")).to_have_value(ADMIN)

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("Open incidents"))).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_a_wide_screen_shows_the_navigation_without_a_menu(page: Page, pager: Pager) -> None:
    sign_in(page)
    nav = page.get_by_role("navigation", name="Main")
    expect(page.locator("summary", has_text="Menu")).to_be_hidden()
    nav.get_by_role("link", name="Policies").click()
    expect(page).to_have_url(re.compile(r"/policies$"))
    expect(nav.get_by_role("link", name="Policies")).to_have_attribute("aria-current", "page")
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()


def test_an_alert_appears_on_the_dashboard_without_reloading(page: Page, pager: Pager) -> None:
    service = pager.service()
    sign_in(page)
    expect(page.locator(f'[data-service="{service.id}"]')).to_contain_text("healthy")
    page.evaluate("window.notReloaded = true")

    incident_id = pager.alert(service, "Checkout is failing")

    row = page.locator(f'[data-incident="{incident_id}"]')
    expect(row).to_contain_text("Checkout is failing")
    expect(row).to_contain_text("triggered")
    expect(page.locator(f'[data-service="{service.id}"]')).to_contain_text("unhealthy")
    assert page.evaluate("window.notReloaded") is True


def test_acknowledge_with_the_button(page: Page, pager: Pager) -> None:
    service = pager.service()
    incident_id = pager.alert(service, "Disk full on db-1")
    sign_in(page)
    page.locator(f'[data-incident="{incident_id}"] a.incident-link').click()
    expect(page.get_by_role("heading", name="Disk full on db-1")).to_be_visible()
    expect(page.get_by_text("Paged level 1")).to_be_visible()

    page.get_by_role("button", name="Acknowledge").click()

    expect(page.get_by_role("status")).to_have_text(
        f"Acknowledged {service.name}: “Disk full on db-1” ({incident_id[:8]}): "
        "nobody else will be paged."
    )
    expect(page.locator(".incident-head .badge")).to_have_text("acknowledged")
    expect(page.get_by_text(f"Acknowledged by {ADMIN}")).to_be_visible()
    assert pager.incident(incident_id)["status"] == "acknowledged"


def test_resolve_from_the_dashboard_says_which_incident(page: Page, pager: Pager) -> None:
    service = pager.service()
    incident_id = pager.alert(service, "Checkout answers 502")
    sign_in(page)
    page.locator(f'[data-incident="{incident_id}"]').get_by_role("button", name="Resolve").click()

    expect(page.get_by_role("status")).to_have_text(
        f"Resolved {service.name}: “Checkout answers 502” ({incident_id[:8]})."
    )
    expect(page.locator(f'[data-incident="{incident_id}"]')).to_have_count(0)
    expect(page.locator(f'[data-service="{service.id}"] .badge')).to_have_text("healthy")
    assert pager.state(service) == "healthy"
    assert pager.incident(incident_id)["status"] == "resolved"


def test_a_policy_edit_with_an_invalid_phone_number_shows_the_error_there(
    page: Page, pager: Pager
) -> None:
    service = pager.service()
    sign_in(page)
    page.goto(f"/policies/{service.policy}")
    page.get_by_role("link", name="Edit").click()
    page.get_by_role("button", name="Add target").click()
    new_target = page.locator("#level-1-target-3")
    new_target.get_by_label("channel").select_option("sms")
    new_target.get_by_label("address, phone or URL").fill("555 0100")
    page.get_by_role("button", name="Save policy").click()

    # The message sits in the target's own row, right under the field.
    error = new_target.locator("#level-1-target-3-error")
    expect(error).to_contain_text("not a phone number in international form")
    field = page.get_by_label("Level 1 target 3: address, phone or URL")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "level-1-target-3-error")
    expect(field).to_have_value("555 0100")

    page.get_by_label("Level 1 target 3: address, phone or URL").fill("+44 20 7946 0018")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(page.get_by_text("SMS +442079460018")).to_be_visible()


def test_the_ack_link_in_an_email_acknowledges_after_a_confirmation(
    page: Page, pager: Pager
) -> None:
    service = pager.service()
    incident_id = pager.alert(service, "Payments are timing out")
    link = pager.ack_link(service)
    assert link.startswith(f"{PUBLIC_URL}/ack/")

    page.goto(link)  # not signed in: the link is the credential
    expect(page.get_by_role("heading", name="Payments are timing out")).to_be_visible()
    expect(page.get_by_text(f"Acknowledge as email {service.email}?")).to_be_visible()
    assert pager.incident(incident_id)["status"] == "triggered"  # opening it changed nothing

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("Acknowledged.")
    assert pager.incident(incident_id)["acknowledged_by"] == f"email {service.email} (ack link)"

    sign_in(page)
    page.goto(f"/incidents/{incident_id}")
    expect(page.locator(".incident-head .badge")).to_have_text("acknowledged")
    expect(page.get_by_text(f"Acknowledged by email {service.email} (ack link)")).to_be_visible()


def test_a_forged_ack_link_gets_a_clear_page(page: Page, pager: Pager) -> None:
    page.goto(f"{PUBLIC_URL}/ack/not-a-real-token")
    expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()


def test_an_unknown_address_gets_a_page_and_an_unknown_api_address_json(
    page: Page, pager: Pager
) -> None:
    sign_in(page)
    answer = page.goto("/incidnets")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("There is no page at this address.")).to_be_visible()
    page.get_by_role("link", name="Dashboard").last.click()
    expect(page.get_by_role("heading", name=re.compile("Open incidents"))).to_be_visible()

    answer = page.goto("/api/v1/incidnets")
    assert answer is not None
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == "not_found"


def test_maintenance_for_an_hour_records_alerts_and_ends_now(page: Page, pager: Pager) -> None:
    service = pager.service()
    sign_in(page)
    page.goto(f"/services/{service.id}")
    page.get_by_role("button", name="for 1 h").click()
    expect(page.get_by_role("status")).to_contain_text("In maintenance until")
    expect(page.locator("h1 .badge.maintenance")).to_have_text("in maintenance")

    pager.api.post(
        "/api/v1/alerts",
        json={"service": service.id, "message": "Replica lag 40 s", "dedup_key": "lag"},
    )
    page.reload()
    expect(
        page.get_by_text("Alert during maintenance, nobody paged: Replica lag 40 s")
    ).to_be_visible()
    assert pager.state(service) == "healthy"

    page.get_by_role("button", name="End now").click()
    expect(page.get_by_role("status")).to_have_text("Maintenance ended: alerts page again.")
    expect(page.get_by_text("Open incident: Replica lag 40 s")).to_be_visible()
    assert pager.state(service) == "unhealthy"
