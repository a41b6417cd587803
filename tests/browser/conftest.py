"""The console in a real browser: Debian's Chromium, headless, driven by Playwright, against a
`pagerd serve` subprocess (tests/e2e/harness.py) that mails an SMTP server in this process.

Without /usr/bin/chromium these tests skip, saying so; under CI (CI=true) they fail instead.
Playwright's sync API holds an event loop on the main thread while it runs, so it lives for
this package only: the tests after it may call asyncio.run() again.
A failing test leaves a screenshot of each of its pages in test-artifacts/; test_screenshots.py
leaves pictures of the main pages in test-artifacts/screenshots/ on every run.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Route,
    sync_playwright,
)

from tests.e2e.harness import PagerProcess, base_env, pagerd
from tests.support.db import running_in_ci
from tests.support.servers import HttpServer, SmtpSink

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Where notifications say Pager is. The browser reaches it through a route to the real
# address, so that a test opens the very link an email carries.
PUBLIC_URL = "http://pager.test"
ADMIN, PASSWORD = "admin@example.com", "correct horse battery"
PHONE = {"width": 390, "height": 844}
ARTIFACTS = "test-artifacts"
WEBHOOK_SECRET = "whsec-browser-test-7c1d"


@dataclass
class Pager:
    """A running Pager with an admin who can sign in, and an API client to seed it."""

    process: PagerProcess
    api: httpx.Client
    smtp: SmtpSink

    @property
    def url(self) -> str:
        return self.process.url

    def service(
        self, phone: str = "+14155550100", timeout: int = 3600, webhook: str | None = None
    ) -> Service:
        """A new service whose policy pages a fresh email address, then an SMS (and a
        webhook with a signing secret, if given its URL)."""
        suffix = uuid.uuid4().hex[:8]
        service = Service(f"svc-{suffix}", f"Checkout {suffix}", f"pol-{suffix}",
                          f"oncall-{suffix}@example.com")  # fmt: skip
        targets: list[dict[str, str]] = [
            {"type": "email", "address": service.email},
            {"type": "sms", "phone": phone},
        ]
        if webhook is not None:
            targets.append({"type": "webhook", "url": webhook, "secret": WEBHOOK_SECRET})
        level = {"ack_timeout_seconds": timeout, "targets": targets}
        policy = {"name": f"Ops {suffix}", "levels": [level]}
        answer = self.api.put(f"/api/v1/escalation-policies/{service.policy}", json=policy)
        assert answer.status_code == 201, answer.text
        body = {"name": service.name, "escalation_policy": service.policy}
        answer = self.api.put(f"/api/v1/services/{service.id}", json=body)
        assert answer.status_code == 201, answer.text
        return service

    def alert(self, service: Service, message: str = "HTTP 5xx above 5%") -> str:
        answer = self.api.post("/api/v1/alerts", json={"service": service.id, "message": message})
        assert answer.status_code == 202, answer.text
        incident_id: str = answer.json()["incident_id"]
        return incident_id

    def incident(self, incident_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/api/v1/incidents/{incident_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def policy(self, service: Service) -> dict[str, Any]:
        answer = self.api.get(f"/api/v1/escalation-policies/{service.policy}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def wait_for_notification(
        self, incident_id: str, channel: str, status: str, timeout: float = 15.0
    ) -> dict[str, Any]:
        """The incident's notification on `channel` once it has `status`."""
        deadline = time.monotonic() + timeout
        while True:
            found = [n for n in self.incident(incident_id)["notifications"]
                     if n["channel"] == channel]  # fmt: skip
            if found and found[0]["status"] == status:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {status} {channel} notification: {found}")
            time.sleep(0.1)

    def state(self, service: Service) -> str:
        state: str = self.api.get(f"/api/v1/services/{service.id}").json()["state"]
        return state

    def ack_link(self, service: Service, timeout: float = 10.0) -> str:
        """The ack link in the email that the service's incident sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for mail in self.smtp.messages:
                if service.email in mail.rcpt_tos:
                    found = re.search(r"Acknowledge: (\S+)", mail.body)
                    assert found, mail.body
                    return found[1]
            time.sleep(0.05)
        raise AssertionError(f"no email to {service.email} within {timeout}s")


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    policy: str
    email: str


@pytest.fixture(scope="package")
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        if running_in_ci():
            pytest.fail(f"CI must run the browser tests: {message}")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="package")
def playwright(chromium: Path) -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright, chromium: Path) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


@pytest.fixture(scope="package")
def pager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pager]:
    workdir = tmp_path_factory.mktemp("pager-browser")
    database_url = f"sqlite:///{workdir / 'pager.db'}"
    with SmtpSink() as smtp:
        env = {
            "PAGER_SMTP_URL": smtp.url(),
            "PAGER_PUBLIC_URL": PUBLIC_URL,
            # A failing target's retries come within a second, not over minutes.
            "PAGER_DELIVERY_BACKOFF_BASE_SECONDS": "0.05",
            "PAGER_DELIVERY_BACKOFF_MAX_SECONDS": "0.1",
            "PAGER_WORKER_POLL_SECONDS": "0.2",
        }
        environment = base_env(database_url, env)
        subprocess.run(
            pagerd("user", "add", ADMIN, "--role", "admin", "--password-stdin"),
            input=PASSWORD, env=environment, check=True, capture_output=True, text=True,
        )  # fmt: skip
        token = subprocess.run(
            pagerd("token", "create", "--user", ADMIN, "--name", "browser tests"),
            env=environment, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        with PagerProcess.start(database_url, workdir, env) as process:
            client = process.client(token)
            try:
                yield Pager(process, client, smtp)
            finally:
                client.close()


def new_context(browser: Browser, pager: Pager, **options: Any) -> BrowserContext:
    context = browser.new_context(base_url=pager.url, **options)
    context.set_default_timeout(10_000)

    def to_pager(route: Route) -> None:
        # Fetched and fulfilled, not continued to another URL, so that the page keeps its
        # origin (the public URL), as it would behind a real proxy.
        real = route.request.url.replace(PUBLIC_URL, pager.url, 1)
        route.fulfill(response=route.fetch(url=real, max_redirects=0))

    context.route(f"{PUBLIC_URL}/**", to_pager)
    return context


@pytest.fixture
def webhook() -> Iterator[HttpServer]:
    """A webhook receiver; it answers 200 unless told otherwise (`script`)."""
    with HttpServer() as server:
        yield server


@pytest.fixture
def page(browser: Browser, pager: Pager) -> Iterator[Page]:
    context = new_context(browser, pager)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser: Browser, pager: Pager) -> Iterator[Page]:
    """A page on a phone-sized screen (an iPhone 12 to 15: 390 by 844 CSS pixels)."""
    context = new_context(
        browser, pager, viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    yield context.new_page()
    context.close()


def sign_in(page: Page, email: str = ADMIN, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # A bound, not a measure: the password's hash (argon2) may wait for a busy machine.
    page.wait_for_url(re.compile(r"/$"), timeout=30_000)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        folder = item.config.rootpath / ARTIFACTS
        for name, value in funcargs.items():
            if isinstance(value, Page) and not value.is_closed():
                folder.mkdir(exist_ok=True)
                path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', item.name)}-{name}.png"
                try:
                    value.screenshot(path=str(path), full_page=True)
                    report.sections.append(("screenshot", f"{path} (at {value.url})"))
                except Exception as error:  # a crashed page: say so, keep the report
                    report.sections.append(("screenshot", f"none: {error}"))
            if isinstance(value, Pager):
                tail = "\n".join(value.process.log().splitlines()[-100:])
                report.sections.append(("pagerd serve log (last lines)", tail))
    return report
