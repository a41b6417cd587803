"""Heartbeats against `pagerd serve` with a fast clock (`PAGER_CLOCK_SPEED`: a minute passes
in a second): a heartbeat missed pages by email through the durable timers, and a ping —
Pager's with the integration key, or Opsgenie's with GenieKey — resolves the incident."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Pager, start_pager
from tests.support.servers import SmtpSink
from tests.support.worker import wait_until

SPEED = "60"


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def pager(tmp_path_factory: pytest.TempPathFactory, mail: SmtpSink) -> Iterator[Pager]:
    workdir = tmp_path_factory.mktemp("pager-heartbeats")
    env = {
        "PAGER_SMTP_URL": mail.url(),
        "PAGER_SMTP_FROM": "pager@example.com",
        "PAGER_CLOCK_SPEED": SPEED,
        "PAGER_WORKER_POLL_SECONDS": "0.1",
    }
    yield from start_pager(f"sqlite:///{workdir / 'pager.db'}", workdir, env)


def _missed_then_pinged(pager: Pager, mail: SmtpSink, ping: str, scheme: str) -> None:
    service_id, key = pager.service()
    beat = pager.new_id("backup")
    made = pager.admin.put(
        f"/api/v1/heartbeats/{beat}",
        json={"service": service_id, "interval_seconds": 60, "grace_seconds": 0},
    )
    assert made.status_code == 201, made.text

    wait_until(lambda: pager.open_incident(service_id) is not None, 30, "the missed heartbeat")
    incident = pager.open_incident(service_id)
    assert incident is not None
    assert incident["dedup_keys"] == [f"heartbeat:{beat}"]
    assert incident["message"].startswith(f"Heartbeat {beat} missed: never pinged since")
    wait_until(lambda: any(incident["id"] in m.body for m in mail.messages), 30, "the email")
    [page] = [m for m in mail.messages if incident["id"] in m.body]
    assert "alice@example.com" in page.rcpt_tos
    assert beat in page.subject + page.body
    assert pager.admin.get(f"/api/v1/heartbeats/{beat}").json()["state"] == "missed"

    pinged = pager.client(key, scheme).request("POST", ping.format(beat=beat))
    assert pinged.is_success, pinged.text
    assert pager.incident(incident["id"])["status"] == "resolved"
    shown = pager.admin.get(f"/api/v1/heartbeats/{beat}").json()
    assert shown["state"] == "ok"
    assert pager.get_service(service_id)["state"] == "healthy"


def test_a_missed_heartbeat_pages_and_a_ping_resolves_it(pager: Pager, mail: SmtpSink) -> None:
    _missed_then_pinged(pager, mail, "/api/v1/heartbeats/{beat}/ping", "Bearer")


def test_an_opsgenie_ping_resolves_it_too(pager: Pager, mail: SmtpSink) -> None:
    _missed_then_pinged(pager, mail, "/v2/heartbeats/{beat}/ping", "GenieKey")


def test_each_ping_moves_the_deadline(pager: Pager) -> None:
    service_id, key = pager.service()
    beat = pager.new_id("cron")
    body = {"service": service_id, "interval_seconds": 120, "grace_seconds": 60}
    assert pager.admin.put(f"/api/v1/heartbeats/{beat}", json=body).status_code == 201
    client = pager.client(key)
    started = pager.admin.get(f"/api/v1/heartbeats/{beat}").json()["due_at"]
    for _ in range(3):
        assert client.get(f"/api/v1/heartbeats/{beat}/ping").status_code == 200
    genie = pager.client(key, "GenieKey")
    for method in ("HEAD", "PUT"):
        assert genie.request(method, f"/v2/heartbeats/{beat}/ping").status_code == 202
    shown = pager.admin.get(f"/api/v1/heartbeats/{beat}").json()
    assert shown["state"] == "ok"
    assert shown["due_at"] > started
    assert pager.open_incident(service_id) is None
