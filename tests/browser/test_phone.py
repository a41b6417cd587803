"""At 3 a.m. the console is a phone: the dashboard, the incident page and the ack page fit a
390 px wide screen without sideways scrolling, their buttons are big enough to tap, and the
navigation is one line (a menu) that leaves the screen to the incidents."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN, PHONE, WEBHOOK_SECRET, Pager, Service, sign_in
from tests.support.servers import HttpServer, Reply

MIN_TAP = 44  # CSS pixels: Apple's and WCAG 2.5.5's smallest comfortable target
ONE_LINE = 64  # CSS pixels: a header of one tappable row, padding included


def assert_fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide: it scrolls sideways"


def assert_tappable(button: Locator) -> None:
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box is not None
    assert box["height"] >= MIN_TAP, box
    assert box["width"] >= MIN_TAP, box
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= PHONE["width"], box


def assert_secondary(resolve: Locator, acknowledge: Locator) -> None:
    """Resolve can be tapped, but is smaller than Acknowledge, looks different and is not
    right under it: reaching for Acknowledge half asleep must not stop the paging."""
    assert_tappable(resolve)
    assert_tappable(acknowledge)
    small, big = resolve.bounding_box(), acknowledge.bounding_box()
    assert small is not None
    assert big is not None
    assert small["width"] < big["width"], (small, big)
    assert small["height"] <= big["height"], (small, big)
    assert small["y"] < big["y"] + big["height"], f"Resolve is under Acknowledge: {small}, {big}"
    background = "el => getComputedStyle(el).backgroundColor"
    assert resolve.evaluate(background) != acknowledge.evaluate(background)


def test_dashboard_incident_and_ack_pages_work_on_a_phone(phone: Page, pager: Pager) -> None:
    service = pager.service(phone="+14155550123")
    long_message = "Latency above 2 s on " + "checkout-api-eu-west-1-" * 6 + "for 5 minutes"
    incident_id = pager.alert(service, long_message)
    link = pager.ack_link(service)

    phone.goto(link)
    assert_fits(phone)
    assert_tappable(phone.get_by_role("button", name="Acknowledge"))

    sign_in(phone)
    row = phone.locator(f'[data-incident="{incident_id}"]')
    expect(row).to_be_visible()
    assert_fits(phone)
    assert_secondary(
        row.get_by_role("button", name="Resolve"), row.get_by_role("button", name="Acknowledge")
    )

    row.locator("a.incident-link").tap()
    expect(phone.get_by_role("heading", name=long_message)).to_be_visible()
    assert_fits(phone)
    acknowledge = phone.get_by_role("button", name="Acknowledge")
    assert_secondary(phone.get_by_role("button", name="Resolve"), acknowledge)
    acknowledge.tap()
    expect(phone.locator(".incident-head .badge")).to_have_text("acknowledged")
    assert_fits(phone)
    assert pager.incident(incident_id)["status"] == "acknowledged"


def test_the_policy_editor_and_sign_in_fit_a_phone(phone: Page, pager: Pager) -> None:
    phone.goto("/login")
    assert_fits(phone)
    assert_tappable(phone.get_by_role("button", name="Sign in"))
    service = pager.service()
    sign_in(phone)
    phone.goto(f"/policies/{service.policy}/edit")
    assert_fits(phone)
    assert_tappable(phone.get_by_role("button", name="Save policy"))


def test_the_navigation_is_one_line_and_opens_as_a_menu(phone: Page, pager: Pager) -> None:
    sign_in(phone)
    header = phone.locator("header.top")
    box = header.bounding_box()
    assert box is not None
    assert box["height"] <= ONE_LINE, f"the header is {box['height']}px high"
    nav = phone.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Incidents")).to_be_hidden()
    expect(nav.get_by_role("button", name="Sign out")).to_be_hidden()

    menu = phone.locator("summary", has_text="Menu")
    assert_tappable(menu)
    menu.tap()
    for link in ("Dashboard", "Incidents", "Policies", "Admin", ADMIN):
        assert_tappable(nav.get_by_role("link", name=link, exact=True))
    assert_tappable(nav.get_by_role("button", name="Sign out"))
    assert_fits(phone)
    phone.touchscreen.tap(PHONE["width"] // 2, PHONE["height"] - 50)  # elsewhere: it closes
    expect(nav.get_by_role("link", name="Incidents")).to_be_hidden()

    menu.tap()
    nav.get_by_role("link", name="Incidents").tap()
    expect(phone).to_have_url(re.compile(r"/incidents$"))
    expect(phone.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Incidents")).to_be_hidden()


def test_a_failing_webhook_is_one_line_of_the_timeline(
    phone: Page, pager: Pager, webhook: HttpServer
) -> None:
    webhook.script(*[Reply.text(500, "database is locked")] * 6)
    service = pager.service(webhook=f"{webhook.url}/hook")
    incident_id = pager.alert(service, "Orders are stuck")
    pager.wait_for_notification(incident_id, "webhook", "sent")
    sign_in(phone)
    phone.goto(f"/incidents/{incident_id}")

    lines = phone.locator("ol.timeline > li")
    expect(lines.filter(has_text="Opened by an alert")).to_be_visible()
    webhook_lines = lines.filter(has_text=re.compile("webhook", re.IGNORECASE))
    # The page's own line (Paged level 1: ..., webhook 127.0.0.1) and one for the attempts.
    expect(webhook_lines).to_have_count(2)
    folded = lines.filter(has_text="7 attempts")
    expect(folded).to_contain_text("Webhook 127.0.0.1: 7 attempts, sent on the last")
    expect(folded).to_contain_text(
        "Last error: webhook 127.0.0.1 answered HTTP 500: database is locked"
    )
    third = folded.get_by_text("Webhook failed (attempt 3), retrying")
    expect(third).to_be_hidden()

    each = folded.locator("summary", has_text="Each attempt")
    assert_tappable(each)
    each.tap()
    expect(third).to_be_visible()
    expect(folded.locator(".attempts li")).to_have_count(7)
    assert_fits(phone)
    # The page refreshes itself every few seconds; what was opened stays open.
    with phone.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
        pass
    expect(third).to_be_visible()


def webhook_secret(pager: Pager, service: Service) -> str | None:
    """As the API tells an admin."""
    (hook,) = [t for t in pager.policy(service)["levels"][0]["targets"] if t["type"] == "webhook"]
    secret: str | None = hook.get("secret")
    return secret


def test_a_webhook_secret_is_write_only_in_the_policy_editor(phone: Page, pager: Pager) -> None:
    service = pager.service(webhook="https://hooks.example.com/pager")
    sign_in(phone)
    phone.goto(f"/policies/{service.policy}/edit")
    assert WEBHOOK_SECRET not in phone.content()
    secret = phone.get_by_label("Level 1 target 3: webhook signing secret")
    expect(secret).to_have_value("")
    expect(secret).to_have_attribute("placeholder", re.compile("^set — "))
    expect(phone.get_by_text("Signing secret: set.")).to_be_visible()
    assert_fits(phone)

    phone.get_by_role("button", name="Save policy").tap()
    expect(phone.get_by_role("status")).to_contain_text("Saved")
    assert webhook_secret(pager, service) == WEBHOOK_SECRET

    phone.goto(f"/policies/{service.policy}/edit")
    secret.fill("whsec-replaced-0e9d")
    phone.get_by_role("button", name="Save policy").tap()
    expect(phone.get_by_role("status")).to_contain_text("Saved")
    assert webhook_secret(pager, service) == "whsec-replaced-0e9d"

    phone.goto(f"/policies/{service.policy}/edit")
    assert "whsec-replaced-0e9d" not in phone.content()
    remove = phone.get_by_label("Remove the secret")
    assert_tappable(phone.locator("label.check", has=remove))
    remove.check()
    phone.get_by_role("button", name="Save policy").tap()
    expect(phone.get_by_role("status")).to_contain_text("Saved")
    assert webhook_secret(pager, service) is None
    phone.goto(f"/policies/{service.policy}/edit")
    expect(secret).to_have_attribute("placeholder", "signing secret (optional)")
