"""Pictures of the pages that matter at 3 a.m., on a phone and on a laptop, made on every run
into test-artifacts/screenshots/ so that anyone can look at what the console looks like."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ARTIFACTS, PHONE, Pager, new_context, sign_in
from tests.support.servers import HttpServer, Reply

LAPTOP = {"width": 1280, "height": 800}


@pytest.mark.parametrize("size", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_screenshots_of_the_dashboard_an_incident_and_the_policy_editor(
    browser: Browser,
    pager: Pager,
    webhook: HttpServer,
    size: dict[str, int],
    request: pytest.FixtureRequest,
) -> None:
    webhook.script(*[Reply.text(503, "upstream is restarting")] * 5)
    service = pager.service(webhook=f"{webhook.url}/pager")
    quiet = pager.service()
    acknowledged = pager.alert(quiet, "Queue depth above 10,000 on orders-worker")
    pager.api.post(f"/api/v1/incidents/{acknowledged}/acknowledge")
    incident_id = pager.alert(service, "HTTP 5xx above 5% on checkout-api for 5 minutes")
    pager.wait_for_notification(incident_id, "webhook", "sent")

    folder = Path(request.config.rootpath) / ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    phone = size == PHONE
    context = new_context(
        browser, pager, viewport=size, device_scale_factor=2, is_mobile=phone, has_touch=phone
    )
    try:
        page = context.new_page()
        sign_in(page)
        pages = {
            "dashboard": "/",
            "incident": f"/incidents/{incident_id}",
            "policy-editor": f"/policies/{service.policy}/edit",
        }
        for name, path in pages.items():
            shot = folder / f"{name}-{size['width']}x{size['height']}.png"
            shot.unlink(missing_ok=True)
            page.goto(path)
            expect(page.locator("main h1").first).to_be_visible()
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes().startswith(b"\x89PNG"), shot
        if phone:
            shot = folder / f"menu-{size['width']}x{size['height']}.png"
            shot.unlink(missing_ok=True)
            page.locator("summary", has_text="Menu").tap()
            page.screenshot(path=str(shot))
            assert shot.read_bytes().startswith(b"\x89PNG"), shot
    finally:
        context.close()
