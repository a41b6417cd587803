"""A real Prometheus Alertmanager (Debian's package) sends to Pager through both its webhook
and its PagerDuty receivers, configured with the README's snippet: level 1 is paged once,
also after Alertmanager re-sends; resolving the alert in Alertmanager makes the service
healthy."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import Pager, start_pager
from tests.support.db import running_in_ci
from tests.support.readme import snippet
from tests.support.servers import SmtpSink, free_port
from tests.support.worker import wait_until

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


@pytest.fixture
def pager(tmp_path: Path, smtp: SmtpSink) -> Iterator[Pager]:
    env = {"PAGER_SMTP_URL": smtp.url(), "PAGER_SMTP_FROM": "pager@example.com"}
    yield from start_pager(f"sqlite:///{tmp_path / 'pager.db'}", tmp_path, env)


@pytest.fixture
def alertmanager_binary() -> str:
    if shutil.which(ALERTMANAGER) is None:
        message = f"{ALERTMANAGER} is missing: apt-get install prometheus-alertmanager"
        if running_in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return ALERTMANAGER


def alertmanager_config(pager_url: str, key: str) -> dict[str, Any]:
    """The README's configuration, pointed at this Pager, with short intervals."""
    text = snippet("alertmanager").replace("http://127.0.0.1:8080", pager_url)
    config: dict[str, Any] = yaml.safe_load(text.replace("INTEGRATION_KEY", key))
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="2s")
    return config


@contextmanager
def running_alertmanager(binary: str, config: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    """Alertmanager with this configuration, until the block ends; yields its API's URL."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={path}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api/v2"
    try:
        wait_until(lambda: _up(f"{api}/status"), 30, "Alertmanager to start")
        yield api
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_alertmanager_pages_level_one_once_and_resolves(
    pager: Pager, smtp: SmtpSink, alertmanager_binary: str, tmp_path: Path
) -> None:
    service, key = pager.service()
    config = alertmanager_config(pager.url, key)
    with running_alertmanager(alertmanager_binary, config, tmp_path) as api:
        started = datetime.now(UTC)
        alert = {
            "labels": {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"},
            "annotations": {"summary": "Disk 95% full on db-1"},
            "startsAt": started.isoformat(),
        }
        assert httpx.post(f"{api}/alerts", json=[alert]).status_code == 200
        [page] = smtp.wait_for(1, timeout=30)  # level 1: alice (bob is level 2)
        assert page.rcpt_tos == ("alice@example.com",)
        assert "DiskFull" in page.subject
        incident = pager.open_incident(service)
        assert incident is not None
        # Both receivers delivered it, and Alertmanager re-sends every 2 s: all attach.
        wait_until(lambda: _posts(pager, "/integrations/alertmanager") >= 2, 30, "a re-send")
        wait_until(lambda: _posts(pager, "/v2/enqueue") >= 2, 30, "a PagerDuty re-send")
        time.sleep(1)
        pages = [m for m in smtp.messages if m.rcpt_tos == ("alice@example.com",)]
        assert len(pages) == 1, "level 1 was paged more than once"
        detail = pager.incident(incident["id"])
        assert detail["alert_count"] == 2  # the webhook's fingerprint and PagerDuty's key

        resolved = {**alert, "endsAt": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}
        assert httpx.post(f"{api}/alerts", json=[resolved]).status_code == 200
        wait_until(lambda: pager.get_service(service)["state"] == "healthy", 30, "healthy")
        assert pager.incident(incident["id"])["status"] == "resolved"


def test_a_rules_runbook_and_dashboard_reach_the_email(
    pager: Pager, smtp: SmtpSink, alertmanager_binary: str, tmp_path: Path
) -> None:
    """An alert as a Prometheus rule makes it, with `runbook_url` and `dashboard`
    annotations, through Alertmanager's webhook: the page shows both links and the labels,
    and the incident lists the alert with them."""
    service, key = pager.service()
    config = alertmanager_config(pager.url, key)
    for receiver in config["receivers"]:
        receiver.pop("pagerduty_configs", None)  # the webhook's alert alone opens it
    runbook = "https://runbooks.example.com/disk-full"
    dashboard = "https://grafana.example.com/d/node/disks?var-instance=db-1"
    alert = {
        "labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical"},
        "annotations": {
            "summary": "Disk 95% full on db-1",
            "runbook_url": runbook,
            "dashboard": dashboard,
        },
        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=disk",
        "startsAt": datetime.now(UTC).isoformat(),
    }
    with running_alertmanager(alertmanager_binary, config, tmp_path) as api:
        assert httpx.post(f"{api}/alerts", json=[alert]).status_code == 200
        [page] = smtp.wait_for(1, timeout=30)
    body = page.body.replace("\r\n", "\n")
    assert body.startswith(f"{service.title()}: DiskFull: Disk 95% full on db-1\n")
    assert f"Runbook:     {runbook}" in body
    assert f"Dashboard:   {dashboard}" in body
    assert "Labels:\n  alertname: DiskFull\n  instance: db-1:9100\n  severity: critical" in body
    incident = pager.open_incident(service)
    assert incident is not None
    [listed] = pager.incident(incident["id"])["alerts"]
    assert (listed["runbook"], listed["dashboard"]) == (runbook, dashboard)
    assert listed["source_url"] == alert["generatorURL"]


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _posts(pager: Pager, path: str) -> int:
    return pager.process.log().count(f'"POST {path} HTTP/1.1" 202')


def test_an_alert_in_a_maintenance_window_pages_nobody_and_still_firing_at_its_end_pages(
    pager: Pager, smtp: SmtpSink, alertmanager_binary: str, tmp_path: Path
) -> None:
    service, key = pager.service()
    config = alertmanager_config(pager.url, key)
    with running_alertmanager(alertmanager_binary, config, tmp_path) as api:
        end = datetime.now(UTC) + timedelta(seconds=8)
        window = pager.responder.post(
            f"/api/v1/services/{service}/maintenance", json={"end": end.isoformat()}
        )
        assert window.status_code == 201, window.text
        alert = {
            "labels": {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"},
            "annotations": {"summary": "Disk 95% full on db-1"},
            "startsAt": datetime.now(UTC).isoformat(),
        }
        assert httpx.post(f"{api}/alerts", json=[alert]).status_code == 200
        # Both receivers deliver it during the window: recorded, nobody paged.
        wait_until(lambda: _types(pager, service).count("AlertSuppressed") == 2, 30, "both")
        assert pager.open_incident(service) is None
        assert smtp.messages == []

        [page] = smtp.wait_for(1, timeout=30)  # the window's end: level 1, alice
        assert page.rcpt_tos == ("alice@example.com",)
        assert "DiskFull" in page.subject
        types = _types(pager, service)
        assert types.index("MaintenanceEnded") < types.index("IncidentOpened")
        incident = pager.open_incident(service)
        assert incident is not None
        assert incident["alert_count"] == 2  # the webhook's fingerprint and PagerDuty's key
        assert pager.get_service(service)["in_maintenance"] is False


def _types(pager: Pager, service: str) -> list[str]:
    answer = pager.admin.get(f"/api/v1/services/{service}/events", params={"limit": 1000})
    return [event["type"] for event in answer.json()["events"]]
