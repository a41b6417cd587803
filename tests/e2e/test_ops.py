"""Operations endpoints and limits of a running `pagerd`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Pager, start_pager
from tests.support.worker import wait_until


def test_health_and_readiness(pager: Pager) -> None:
    assert pager.anonymous.get("/healthz").json() == {"status": "ok"}
    assert pager.anonymous.get("/readyz").json() == {"status": "ready"}


def test_metrics_count_alerts_by_source_and_open_incidents(pager: Pager) -> None:
    def sample(text: str, name: str) -> float:
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if series == name:
                return float(value)
        return 0.0

    before = pager.anonymous.get("/metrics")
    assert before.headers["content-type"].startswith("text/plain")
    service_id, key = pager.service()
    pager.client(key).post("/api/v1/alerts", json={"service": service_id, "message": "x"})
    pager.client(key, "GenieKey").post("/v2/alerts", json={"message": "y", "alias": "y"})
    after = pager.anonymous.get("/metrics").text
    api = 'pager_alerts_received_total{source="api"}'
    opsgenie = 'pager_alerts_received_total{source="opsgenie"}'
    assert sample(after, api) == sample(before.text, api) + 1
    assert sample(after, opsgenie) == sample(before.text, opsgenie) + 1
    opened = "pager_incidents_opened_total"
    assert sample(after, opened) == sample(before.text, opened) + 1
    open_now = sample(after, "pager_open_incidents")
    listed = pager.admin.get("/api/v1/incidents", params={"status": "open", "limit": 1000})
    assert open_now == len(listed.json()["incidents"])


def test_with_no_provider_configured_pages_are_logged_and_the_start_says_so(
    pager: Pager,
) -> None:
    def sample(text: str, name: str) -> float:
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if series == name:
                return float(value)
        return 0.0

    said = [line for line in pager.process.log().splitlines() if "written to the log" in line]
    assert len(said) == 1, said
    assert "WARNING" in said[0]
    assert "not configured: email (PAGER_SMTP_URL) and SMS (PAGER_TWILIO_" in said[0]
    logged = [f'pager_notifications_logged_total{{channel="{c}"}}' for c in ("email", "sms")]
    sent = [f'pager_notifications_sent_total{{channel="{c}"}}' for c in ("email", "sms")]
    before = pager.anonymous.get("/metrics").text
    service_id, key = pager.service()
    incident_id = (
        pager.client(key)
        .post("/api/v1/alerts", json={"service": service_id, "message": "disk full"})
        .json()["incident_id"]
    )

    def statuses() -> list[str]:
        return sorted(n["status"] for n in pager.incident(incident_id)["notifications"])

    wait_until(lambda: statuses() == ["logged", "logged"], 10, "both pages logged")
    after = pager.anonymous.get("/metrics").text
    for series in logged:
        assert sample(after, series) == sample(before, series) + 1
    for series in sent:
        assert sample(after, series) == sample(before, series)
    pages = [line for line in pager.process.log().splitlines() if incident_id in line]
    assert [line for line in pages if "pager.notify" in line], "the pages are in the log"
    assert not [line for line in pages if "/ack/" in line], "an ack link is a credential"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pager]:
    workdir = tmp_path_factory.mktemp("pager-strict")
    settings = {
        "PAGER_RATE_LIMIT_PER_SECOND": "0.5",
        "PAGER_RATE_LIMIT_BURST": "3",
        "PAGER_MAX_BODY_BYTES": "2000",
    }
    yield from start_pager(f"sqlite:///{workdir / 'pager.db'}", workdir, settings)


def test_past_the_rate_a_credential_gets_429_with_retry_after(strict: Pager) -> None:
    reader = strict.client(strict.responder_token)
    answers = [reader.get("/api/v1/services") for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = answers[-1]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    # Each credential has its own budget.
    assert strict.admin.get("/api/v1/services").status_code == 200


def test_the_body_limit_is_configurable(strict: Pager) -> None:
    body = {"service": "x", "message": "y" * 3000}
    answer = strict.admin.post("/api/v1/alerts", json=body)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"
    pd = strict.anonymous.post("/v2/enqueue", json={"routing_key": "k", "x": "y" * 3000})
    assert pd.status_code == 413
    assert pd.json()["status"] == "invalid event"
