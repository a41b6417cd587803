"""The log of a running `pagerd serve` (Pager's records and uvicorn's error and access logs):
text from outside cannot forge a record, and an ack link's token never reaches it."""

from __future__ import annotations

import re
import time
import uuid

from tests.e2e.conftest import Pager
from tests.e2e.harness import PagerProcess
from tests.support.servers import WebhookReceiver

# How a record of configure_logging's format starts; the few other lines `pagerd serve`
# prints (where it listens, the first admin's password) are typer's, not records.
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def log_lines_with(process: PagerProcess, text: str, timeout: float = 10.0) -> list[str]:
    """The log's lines holding `text`, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in process.log().splitlines() if text in line]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_an_alert_message_cannot_forge_a_log_record(pager_sqlite: Pager) -> None:
    pager = pager_sqlite
    service_id, _ = pager.service()  # its email and SMS pages go to the log: no SMTP, no Twilio
    marker = uuid.uuid4().hex
    forged = f"2026-01-01 00:00:00,000 ERROR pager: forged {marker}"
    message = f"disk full {marker}\n{forged}\r\x1b[2K"
    sent = pager.admin.post("/api/v1/alerts", json={"service": service_id, "message": message})
    assert sent.status_code == 202, sent.text

    lines = log_lines_with(pager.process, f"disk full {marker}")
    assert lines, pager.process.log()[-3000:]
    for line in lines:
        assert RECORD.match(line)
        assert " WARNING pager.notify: " in line
        assert f"disk full {marker}\\n{forged}\\r\\x1b[2K" in line
    assert not [line for line in pager.process.log().splitlines() if line.startswith(forged)]


def test_a_followed_ack_link_leaves_no_token_in_the_log(pager_sqlite: Pager) -> None:
    pager = pager_sqlite
    with WebhookReceiver() as hook:
        policy_id = pager.policy(levels=[{"targets": [{"type": "webhook", "url": hook.url}]}])
        service_id, _ = pager.service(policy_id=policy_id)
        sent = pager.admin.post("/api/v1/alerts", json={"service": service_id, "message": "x"})
        assert sent.status_code == 202, sent.text
        [request] = hook.wait_for(1, timeout=15)
    ack_url: str = request.json()["ack_url"]
    token = ack_url.rsplit("/ack/", 1)[1]
    assert len(token) > 20

    page = pager.anonymous.get(f"/ack/{token}")
    assert page.status_code == 200, page.text
    marker = f"/api/v1/{uuid.uuid4().hex}"  # a request after, to know the access log is written
    assert pager.anonymous.get(marker).status_code == 404

    assert log_lines_with(pager.process, marker)
    log = pager.process.log()
    assert token not in log
    accesses = [line for line in log.splitlines() if "uvicorn.access" in line and "/ack/" in line]
    assert any('"GET /ack/[redacted] HTTP/1.1" 200' in line for line in accesses), accesses


def test_a_fetched_calendar_feed_leaves_no_token_in_the_log(pager_sqlite: Pager) -> None:
    pager = pager_sqlite
    email = pager.admin.get("/api/v1/me").json()["email"]
    made = pager.admin.post(f"/api/v1/users/{email}/calendar-feeds")
    assert made.status_code == 201, made.text
    url: str = made.json()["url"]
    token = url.rsplit("/ical/", 1)[1].removesuffix(".ics")
    assert len(token) > 20

    feed = pager.anonymous.get(f"/ical/{token}.ics")
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    marker = f"/api/v1/{uuid.uuid4().hex}"  # a request after, to know the access log is written
    assert pager.anonymous.get(marker).status_code == 404

    assert log_lines_with(pager.process, marker)
    log = pager.process.log()
    assert token not in log
    accesses = [line for line in log.splitlines() if "uvicorn.access" in line and "/ical/" in line]
    assert any('"GET /ical/[redacted] HTTP/1.1" 200' in line for line in accesses), accesses
