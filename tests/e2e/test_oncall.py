"""A real `pagerd serve` pages whoever a schedule has on call: a 3-person hourly rotation whose
handoff the test crosses (the layer starts so that the first shift ends seconds from now),
then an override."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import encode_methods
from pager.adapters.storage.engine import create_engine
from pager.domain.people import ContactMethod
from tests.e2e.conftest import Pager

HANDOFF_IN = 3.0  # seconds from the first alert to the handoff


def person(pager: Pager, email: str) -> None:
    """A responder whose one contact method is their address (as an admin sets it)."""
    made = pager.admin.post("/api/v1/users", json={"email": email, "role": "responder"})
    assert made.status_code == 201, made.text
    engine = create_engine(pager.process.database_url)
    try:
        methods = encode_methods((ContactMethod("work", "email", email),))
        with engine.begin() as conn:
            conn.execute(
                t.users.update().where(t.users.c.email == email).values(contact_methods=methods)
            )
    finally:
        engine.dispose()


def paged(pager: Pager, incident_id: str) -> list[str]:
    """The addresses the incident's notifications went to, once the worker sent them."""
    deadline = time.monotonic() + 10
    while True:
        notes = pager.incident(incident_id)["notifications"]
        if (notes and all(n["status"] != "queued" for n in notes)) or time.monotonic() > deadline:
            return [n["target"]["address"] for n in notes]
        time.sleep(0.05)


def alert(pager: Pager, service: str) -> str:
    sent = pager.admin.post("/api/v1/alerts", json={"service": service, "message": "disk full"})
    assert sent.status_code == 202, sent.text
    incident_id: str = sent.json()["incident_id"]
    return incident_id


def test_an_hourly_rotation_pages_the_first_person_then_after_the_handoff_the_second(
    pager: Pager,
) -> None:
    first, second, third = (f"{pager.new_id(n)}@example.com" for n in ("ann", "bob", "cat"))
    for email in (first, second, third):
        person(pager, email)
    schedule_id = pager.new_id("rota")
    handoff = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=HANDOFF_IN + 1)
    start = (handoff - timedelta(hours=1)).replace(tzinfo=None)  # UTC wall clock
    put = pager.admin.put(
        f"/api/v1/schedules/{schedule_id}",
        json={
            "name": "Rota",
            "time_zone": "UTC",
            "layers": [
                {"users": [first, second, third], "shift": {"hours": 1}, "start": start.isoformat()}
            ],
        },
    )
    assert put.status_code == 201, put.text
    policy = pager.policy(
        levels=[
            {
                "ack_timeout_seconds": 3600,
                "targets": [{"type": "schedule", "schedule": schedule_id}],
            }
        ]
    )
    service, _key = pager.service(policy_id=policy)

    before = alert(pager, service)
    assert paged(pager, before) == [first]
    assert pager.admin.post(f"/api/v1/services/{service}/healthy").status_code == 200

    time.sleep(max(0.0, (handoff - datetime.now(UTC)).total_seconds()) + 0.2)
    after = alert(pager, service)
    assert paged(pager, after) == [second]
    assert pager.admin.post(f"/api/v1/services/{service}/healthy").status_code == 200

    now = datetime.now(UTC)
    cover = pager.admin.post(
        f"/api/v1/schedules/{schedule_id}/overrides",
        json={
            "user": third,
            "start": now.isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert cover.status_code == 201, cover.text
    overridden = alert(pager, service)
    assert paged(pager, overridden) == [third]
    oncall = pager.responder.get("/api/v1/oncall").json()["oncall"]
    (mine,) = [entry for entry in oncall if entry["schedule"] == schedule_id]
    assert mine["users"] == [third]
