"""The profile page in Chromium at phone size, against a `pagerd serve` of its own that texts
through a server speaking Twilio's Messages API and mails an SMTP server (aiosmtpd): a
responder adds their phone, types back the code the Twilio server received, sends a test
page, and sets their rules and time zone; an admin opens the responder's profile from the
admin page."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import (
    ADMIN,
    ARTIFACTS,
    PASSWORD,
    PHONE,
    PUBLIC_URL,
    Pager,
    new_context,
    sign_in,
)
from tests.browser.test_phone import assert_fits, assert_tappable
from tests.e2e.harness import PagerProcess, base_env, pagerd
from tests.support.servers import SmtpSink, TwilioServer

RESPONDER = "rita@example.com"
NUMBER = "+14155550142"
CODE = re.compile(r"\b(\d{6})\b")


@dataclass
class TextingPager:
    pager: Pager
    twilio: TwilioServer


@pytest.fixture(scope="module")
def texting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextingPager]:
    workdir = tmp_path_factory.mktemp("pager-profile")
    database_url = f"sqlite:///{workdir / 'pager.db'}"
    with SmtpSink() as smtp, TwilioServer() as twilio:
        env = {
            "PAGER_SMTP_URL": smtp.url(),
            "PAGER_PUBLIC_URL": PUBLIC_URL,
            "PAGER_TWILIO_ACCOUNT_SID": twilio.account_sid,
            "PAGER_TWILIO_AUTH_TOKEN": twilio.auth_token,
            "PAGER_TWILIO_FROM": "+14155550199",
            "PAGER_TWILIO_BASE_URL": twilio.url,
        }
        environment = base_env(database_url, env)
        for email, role in ((ADMIN, "admin"), (RESPONDER, "responder")):
            subprocess.run(
                pagerd("user", "add", email, "--role", role, "--password-stdin"),
                input=PASSWORD, env=environment, check=True, capture_output=True, text=True,
            )  # fmt: skip
        token = subprocess.run(
            pagerd("token", "create", "--user", ADMIN, "--name", "profile tests"),
            env=environment, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        with PagerProcess.start(database_url, workdir, env) as process:
            client = process.client(token)
            try:
                yield TextingPager(Pager(process, client, smtp), twilio)
            finally:
                client.close()


@pytest.fixture
def phone(browser: Browser, texting: TextingPager) -> Iterator[Page]:
    context = new_context(
        browser,
        texting.pager,
        viewport=PHONE,
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    yield context.new_page()
    context.close()


def flash(page: Page, text: str) -> Locator:
    """The message the last action left at the top of the page."""
    return page.locator("p.flash", has_text=text)


def test_a_phone_is_added_verified_with_its_code_and_tested_on_a_phone(
    phone: Page, texting: TextingPager, request: pytest.FixtureRequest
) -> None:
    twilio = texting.twilio
    sign_in(phone, RESPONDER)
    phone.get_by_text("Menu").click()
    phone.get_by_role("link", name="Profile").click()
    expect(phone.get_by_role("heading", name="Your profile")).to_be_visible()
    expect(phone.get_by_text("No contact methods: Pager cannot page you.")).to_be_visible()
    assert_fits(phone)

    phone.get_by_label("Kind").select_option("sms")
    phone.get_by_label("Phone number or email address").fill("+1 415 555 0142")
    phone.get_by_role("button", name="Add", exact=True).click()
    expect(flash(phone, f"Code sent to {NUMBER}")).to_be_visible()
    row = phone.locator("li.method", has_text=NUMBER)
    expect(row.get_by_text("not verified")).to_be_visible()

    (sms,) = twilio.wait_for(1)
    assert sms.to == NUMBER
    code = CODE.search(sms.body)
    assert code, sms.body
    assert code[1] not in texting.pager.process.log()  # codes are never logged
    phone.get_by_label(f"Code sent to {NUMBER}").fill(code[1])
    assert_tappable(row.get_by_role("button", name="Verify"))
    row.get_by_role("button", name="Verify").click()
    expect(flash(phone, f"SMS {NUMBER} is verified: Pager pages you there now.")).to_be_visible()
    row = phone.locator("li.method", has_text=NUMBER)
    expect(row.get_by_text("enabled")).to_be_visible()

    assert_tappable(row.get_by_role("button", name="Send test"))
    row.get_by_role("button", name="Send test").click()
    expect(flash(phone, f"Test page sent to sms {NUMBER}.")).to_be_visible()
    test_page = twilio.wait_for(2)[1]
    assert test_page.to == NUMBER
    assert test_page.body.startswith(f"[Pager] Test page for {RESPONDER} (sms sms)")

    phone.get_by_label("Kind").select_option("email")
    phone.get_by_label("Phone number or email address").fill(RESPONDER)
    phone.get_by_role("button", name="Add", exact=True).click()
    expect(flash(phone, f"Added Email {RESPONDER}.")).to_be_visible()

    phone.get_by_label("Page", exact=True).select_option(label=f"SMS {NUMBER}")
    phone.get_by_label("Minutes after the step").fill("0")
    phone.get_by_role("button", name="Add rule").click()
    phone.get_by_label("Page", exact=True).select_option(label=f"Email {RESPONDER}")
    phone.get_by_label("Minutes after the step").fill("5")
    phone.get_by_role("button", name="Add rule").click()
    rules = phone.locator("li.rule")
    expect(rules).to_have_text([re.compile(f"SMS \\{NUMBER} at once"),
                                re.compile(f"Email {RESPONDER} after 5 min")])  # fmt: skip

    phone.get_by_label("Name", exact=True).fill("Rita Moreno")
    phone.get_by_label("Time zone", exact=True).select_option("Europe/Paris")
    phone.get_by_role("button", name="Save").click()
    expect(flash(phone, "Saved your name and time zone.")).to_be_visible()
    expect(phone.get_by_text("times shown in Europe/Paris")).to_be_visible()
    assert_fits(phone)

    expect(phone.locator("li.method .badge", has_text="enabled")).to_have_count(2)

    folder = Path(request.config.rootpath) / ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(folder / "profile-phone.png"), full_page=True)


def test_a_wrong_code_is_said_beside_the_field_on_a_phone(
    phone: Page, texting: TextingPager
) -> None:
    other = "+14155550143"
    sign_in(phone, ADMIN)
    phone.goto("/profile")
    phone.get_by_label("Phone number or email address").fill(other)
    phone.get_by_role("button", name="Add", exact=True).click()
    expect(flash(phone, f"Code sent to {other}")).to_be_visible()
    sent = [sms for sms in texting.twilio.messages if sms.to == other]
    assert len(sent) == 1
    code = CODE.search(sent[0].body)
    assert code
    phone.get_by_label(f"Code sent to {other}").fill(f"{(int(code[1]) + 1) % 1_000_000:06d}")
    phone.get_by_role("button", name="Verify").click()
    expect(phone.get_by_role("alert").filter(has_text="wrong code: 4 tries left")).to_be_visible()
    assert_fits(phone)


def test_an_admin_opens_a_users_profile_from_the_admin_page(
    phone: Page, texting: TextingPager
) -> None:
    sign_in(phone, ADMIN)
    phone.goto("/admin")
    phone.locator(f'[data-user="{RESPONDER}"]').get_by_role(
        "link", name=re.compile("Profile")
    ).click()
    expect(phone.get_by_role("heading", name=re.compile("Profile of"))).to_be_visible()
    expect(phone.get_by_text(RESPONDER).first).to_be_visible()
    assert_fits(phone)
