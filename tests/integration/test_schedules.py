"""Schedules through the API in process (FastAPI's TestClient) on real SQLite and PostgreSQL:
define, read, shifts, overrides and who may make them, who is on call; bad input is a 4xx
naming its place with nothing written; and a level that targets a schedule pages whoever is
on call at its step, through the real handlers and storage."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import encode_methods
from pager.adapters.storage.directory import SqlDirectory
from pager.adapters.storage.engine import WRITE
from pager.application.schedules import ScheduleInUse
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.errors import ValidationFailed
from pager.domain.people import ContactMethod
from pager.domain.schedule import Layer, Schedule, ShiftLength
from pager.entrypoints.cli_admin import accounts_for
from pager.entrypoints.http.app import create_app
from tests.support.clock import FakeClock

ADMIN, ANN, BOB, CAT = "admin@example.com", "ann@example.com", "bob@example.com", "cat@example.com"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC

LAYER: dict[str, Any] = {
    "users": [ANN, BOB, CAT],
    "shift": {"hours": 1},
    "start": "2026-03-02T09:00:00",
}
HOURLY: dict[str, Any] = {"name": "Primary", "time_zone": "UTC", "layers": [LAYER]}


@dataclass
class Api:
    container: App
    admin: TestClient
    tokens: dict[str, str]

    def as_user(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[email]}"}


def with_email(engine: sa.Engine, email: str) -> None:
    """The user's one contact method: their address (as an admin would set it)."""
    methods = encode_methods((ContactMethod("work", "email", email),))
    with engine.begin() as conn:
        conn.execute(
            t.users.update().where(t.users.c.email == email).values(contact_methods=methods)
        )


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    clock = FakeClock(START + timedelta(minutes=30))
    container = bootstrap(Settings(database_url=database_url), clock=clock)
    accounts = accounts_for(container.engine)
    tokens = {}
    for email, role in (
        (ADMIN, "admin"),
        (ANN, "responder"),
        (BOB, "responder"),
        (CAT, "responder"),
    ):
        accounts.add_user(email, role)
        tokens[email] = accounts.create_token(email)
        with_email(container.engine, email)
    headers = {"Authorization": f"Bearer {tokens[ADMIN]}"}
    with TestClient(create_app(container), headers=headers) as client:
        yield Api(container, client, tokens)
    container.engine.dispose()


def put_primary(api: Api, body: dict[str, Any] = HOURLY) -> None:
    assert api.admin.put("/api/v1/schedules/primary", json=body).status_code in (200, 201)


def test_a_schedule_is_created_read_listed_and_replaced(api: Api) -> None:
    created = api.admin.put("/api/v1/schedules/primary", json=HOURLY)
    assert created.status_code == 201
    assert created.json() == {
        "id": "primary",
        "name": "Primary",
        "time_zone": "UTC",
        "layers": [
            {"users": [ANN, BOB, CAT], "shift": {"hours": 1}, "start": "2026-03-02T09:00:00"}
        ],
        "overrides": [],
    }
    weekly = {
        "name": "Primary (weekly)",
        "time_zone": "Europe/Berlin",
        "layers": [
            {
                "users": [ANN.upper(), BOB],
                "shift": {"weeks": 1},
                "start": "2026-03-02T09:00",
                "restrictions": [{"days": ["mon", "tue"], "from": "22:00", "to": "06:00"}],
            }
        ],
    }
    replaced = api.admin.put("/api/v1/schedules/primary", json=weekly)
    assert replaced.status_code == 200
    assert replaced.json()["layers"] == [
        {
            "users": [ANN, BOB],
            "shift": {"weeks": 1},
            "start": "2026-03-02T09:00:00",
            "restrictions": [{"days": ["mon", "tue"], "from": "22:00", "to": "06:00"}],
        }
    ]
    listed = api.admin.get("/api/v1/schedules", headers=api.as_user(ANN)).json()["schedules"]
    assert [(s["id"], s["time_zone"]) for s in listed] == [("primary", "Europe/Berlin")]


@pytest.mark.parametrize(
    ("change", "place"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"layers": [{**LAYER, "shift": {"hours": 0}}]}, "layer 1 shift"),
        (
            {
                "layers": [
                    {
                        **LAYER,
                        "restrictions": [{"days": [], "from": "09:00", "to": "17:00"}],
                    }
                ]
            },
            "layer 1 restriction 1 days",
        ),
        (
            {"layers": [{**LAYER, "users": [ANN, "nobody@example.com"]}]},
            "layer 1 user 2",
        ),
        (
            {"layers": [{**LAYER, "start": "2026-03-02T09:00:00+01:00"}]},
            "layer 1 start",
        ),
        ({"layers": [{**LAYER, "shift": {"hours": 1, "days": 1}}]}, "layers.0.shift"),
        ({"layers": []}, "layers"),
    ],
)
def test_a_bad_schedule_is_a_422_naming_the_place_and_writes_nothing(
    api: Api, change: dict[str, Any], place: str
) -> None:
    answer = api.admin.put("/api/v1/schedules/primary", json={**HOURLY, **change})
    assert answer.status_code == 422, answer.text
    assert place in [p["field"] for p in answer.json()["error"]["problems"]]
    assert api.admin.get("/api/v1/schedules/primary").status_code == 404
    with api.container.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.schedules)) == 0


def test_a_schedule_name_past_200_characters_is_refused_by_the_application_too(
    api: Api,
) -> None:
    # The API's schema bounds it first; a caller of the application (the CLI, an import)
    # meets the same bound, named.
    layer = Layer((ANN,), ShiftLength(1, "days"), datetime(2026, 1, 1))
    with pytest.raises(ValidationFailed) as refused:
        api.container.schedules.put(Schedule("long", "n" * 201, "UTC", (layer,)))
    assert refused.value.problems == (("name", "must be at most 200 characters"),)
    assert api.container.schedules.put(Schedule("long", "n" * 200, "UTC", (layer,))) is True


def test_only_admins_define_and_delete_schedules(api: Api) -> None:
    ann = api.as_user(ANN)
    assert api.admin.put("/api/v1/schedules/primary", json=HOURLY, headers=ann).status_code == 403
    put_primary(api)
    assert api.admin.delete("/api/v1/schedules/primary", headers=ann).status_code == 403
    assert api.admin.get("/api/v1/schedules/primary", headers=ann).status_code == 200


def test_shifts_are_the_final_shifts_in_utc(api: Api) -> None:
    put_primary(api)
    answer = api.admin.get(
        "/api/v1/schedules/primary/shifts",
        params={"start": "2026-03-02T10:30:00+01:00", "end": "2026-03-02T12:00:00Z"},
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "shifts": [
            {
                "user": ANN,
                "start": "2026-03-02T09:30:00Z",
                "end": "2026-03-02T10:00:00Z",
                "override": False,
            },
            {
                "user": BOB,
                "start": "2026-03-02T10:00:00Z",
                "end": "2026-03-02T11:00:00Z",
                "override": False,
            },
            {
                "user": CAT,
                "start": "2026-03-02T11:00:00Z",
                "end": "2026-03-02T12:00:00Z",
                "override": False,
            },
        ]
    }


@pytest.mark.parametrize(
    ("params", "place", "status"),
    [
        ({"start": "2026-03-02T12:00:00Z", "end": "2026-03-02T09:00:00Z"}, "end", 422),
        ({"start": "2026-03-02T12:00:00", "end": "2026-03-02T13:00:00Z"}, "start", 422),
        ({"start": "2026-03-02T00:00:00Z", "end": "2028-03-02T00:00:00Z"}, "end", 422),
        ({"start": "yesterday", "end": "2026-03-02T13:00:00Z"}, "query.start", 422),
    ],
)
def test_a_bad_shifts_range_is_a_422_naming_it(
    api: Api, params: dict[str, str], place: str, status: int
) -> None:
    put_primary(api)
    answer = api.admin.get("/api/v1/schedules/primary/shifts", params=params)
    assert answer.status_code == status, answer.text
    assert place in [p["field"] for p in answer.json()["error"]["problems"]]


def test_an_unknown_schedule_is_a_404(api: Api) -> None:
    assert api.admin.get("/api/v1/schedules/nope").status_code == 404
    assert api.admin.delete("/api/v1/schedules/nope").status_code == 404
    shifts = api.admin.get(
        "/api/v1/schedules/nope/shifts",
        params={"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z"},
    )
    assert shifts.status_code == 404
    override = {"user": ANN, "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z"}
    assert api.admin.post("/api/v1/schedules/nope/overrides", json=override).status_code == 404


def policy_paging(schedule: str) -> dict[str, Any]:
    return {
        "name": "Ops",
        "levels": [
            {"ack_timeout_seconds": 60, "targets": [{"type": "schedule", "schedule": schedule}]},
            {
                "ack_timeout_seconds": 60,
                "targets": [{"type": "email", "address": "team@example.com"}],
            },
        ],
    }


def test_a_schedule_a_policy_pages_cannot_be_deleted_and_the_409_names_the_policies(
    api: Api,
) -> None:
    put_primary(api)
    for policy in ("ops", "db-ops"):
        assert (
            api.admin.put(
                f"/api/v1/escalation-policies/{policy}", json=policy_paging("primary")
            ).status_code
            == 201
        )
    refused = api.admin.delete("/api/v1/schedules/primary")
    assert refused.status_code == 409
    assert "db-ops, ops" in refused.json()["error"]["message"]
    assert api.admin.get("/api/v1/schedules/primary").status_code == 200
    for policy in ("ops", "db-ops"):
        assert api.admin.delete(f"/api/v1/escalation-policies/{policy}").status_code == 204
    assert api.admin.delete("/api/v1/schedules/primary").status_code == 204
    assert api.admin.get("/api/v1/schedules/primary").status_code == 404


def test_a_policy_cannot_page_a_schedule_that_does_not_exist(api: Api) -> None:
    answer = api.admin.put("/api/v1/escalation-policies/ops", json=policy_paging("nope"))
    assert answer.status_code == 422
    assert "schedule 'nope' does not exist" in answer.json()["error"]["message"]


def override(user: str, start: str, end: str) -> dict[str, str]:
    return {"user": user, "start": start, "end": end}


def test_an_override_is_made_shown_in_the_shifts_and_deleted(api: Api) -> None:
    put_primary(api)
    made = api.admin.post(
        "/api/v1/schedules/primary/overrides",
        json=override(CAT, "2026-03-02T10:00:00Z", "2026-03-02T10:30:00Z"),
    )
    assert made.status_code == 201, made.text
    oid = made.json()["id"]
    assert made.json() == {
        "id": oid,
        "user": CAT,
        "start": "2026-03-02T10:00:00Z",
        "end": "2026-03-02T10:30:00Z",
    }
    window = {"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T11:00:00Z"}
    shifts = api.admin.get("/api/v1/schedules/primary/shifts", params=window).json()["shifts"]
    assert [(s["user"], s["end"], s["override"]) for s in shifts] == [
        (CAT, "2026-03-02T10:30:00Z", True),
        (BOB, "2026-03-02T11:00:00Z", False),
    ]
    assert [o["id"] for o in api.admin.get("/api/v1/schedules/primary").json()["overrides"]] == [
        oid
    ]
    assert api.admin.delete(f"/api/v1/schedules/primary/overrides/{oid}").status_code == 204
    assert api.admin.delete(f"/api/v1/schedules/primary/overrides/{oid}").status_code == 404
    shifts = api.admin.get("/api/v1/schedules/primary/shifts", params=window).json()["shifts"]
    assert [s["user"] for s in shifts] == [BOB]


@pytest.mark.parametrize(
    ("body", "place"),
    [
        (override(CAT, "2026-03-02T10:00:00Z", "2026-03-02T09:00:00Z"), "end"),
        (override(CAT, "2026-03-02T10:00:00Z", "2026-03-02T10:00:00Z"), "end"),
        (override("ghost@example.com", "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"), "user"),
        (override(CAT, "2026-03-02T10:00:00", "2026-03-02T11:00:00Z"), "start"),
        ({"user": CAT, "start": "2026-03-02T10:00:00Z"}, "end"),
    ],
)
def test_a_bad_override_is_a_422_naming_the_place_and_writes_nothing(
    api: Api, body: dict[str, str], place: str
) -> None:
    put_primary(api)
    answer = api.admin.post("/api/v1/schedules/primary/overrides", json=body)
    assert answer.status_code == 422, answer.text
    assert place in [p["field"] for p in answer.json()["error"]["problems"]]
    with api.container.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.schedule_overrides)) == 0


def test_responders_take_shifts_for_themselves_and_hand_on_only_their_own(api: Api) -> None:
    put_primary(api)
    path = "/api/v1/schedules/primary/overrides"
    # 10:00-11:00 is bob's; ann takes half of it.
    taken = api.admin.post(
        path,
        json=override(ANN, "2026-03-02T10:00:00Z", "2026-03-02T10:30:00Z"),
        headers=api.as_user(ANN),
    )
    assert taken.status_code == 201
    # bob hands the rest of his own hour to cat.
    handed = api.admin.post(
        path,
        json=override(CAT, "2026-03-02T10:30:00Z", "2026-03-02T11:00:00Z"),
        headers=api.as_user(BOB),
    )
    assert handed.status_code == 201
    # ann may not give cat's hour, nor one that is partly hers, to bob.
    for start, end in (
        ("2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z"),
        ("2026-03-02T10:00:00Z", "2026-03-02T10:45:00Z"),
    ):
        refused = api.admin.post(path, json=override(BOB, start, end), headers=api.as_user(ANN))
        assert refused.status_code == 403, refused.text
    # cat may not delete ann's override; ann may; bob's, the admin may.
    not_hers = api.admin.delete(f"{path}/{taken.json()['id']}", headers=api.as_user(BOB))
    assert not_hers.status_code == 403
    assert not_hers.json()["error"]["message"] == "only admins may delete others' overrides"
    assert (
        api.admin.delete(f"{path}/{taken.json()['id']}", headers=api.as_user(ANN)).status_code
        == 204
    )
    assert api.admin.delete(f"{path}/{handed.json()['id']}").status_code == 204


def test_who_is_on_call_now_until_when_and_next(api: Api) -> None:
    put_primary(api)
    api.admin.put(
        "/api/v1/schedules/weekdays",
        json={
            "name": "Business hours",
            "time_zone": "UTC",
            "layers": [
                {
                    "users": [CAT],
                    "shift": {"weeks": 1},
                    "start": "2026-03-02T00:00:00",
                    "restrictions": [
                        {
                            "days": ["mon", "tue", "wed", "thu", "fri"],
                            "from": "09:00",
                            "to": "17:00",
                        }
                    ],
                }
            ],
        },
    )
    now = api.admin.get("/api/v1/oncall", headers=api.as_user(BOB)).json()
    assert now == {
        "oncall": [
            {
                "schedule": "primary",
                "name": "Primary",
                "users": [ANN],
                "until": "2026-03-02T10:00:00Z",
                "next": [BOB],
            },
            {
                "schedule": "weekdays",
                "name": "Business hours",
                "users": [CAT],
                "until": "2026-03-02T17:00:00Z",
                "next": [],
            },
        ]
    }
    saturday = api.admin.get("/api/v1/oncall", params={"at": "2026-03-07T12:00:00+00:00"}).json()
    assert saturday["oncall"][1] == {
        "schedule": "weekdays",
        "name": "Business hours",
        "users": [],
        "until": "2026-03-09T09:00:00Z",
        "next": [CAT],
    }
    assert api.admin.get("/api/v1/oncall", params={"at": "2026-03-07T12:00:00"}).status_code == 422


# -- paging through the real handlers


def queued_to(engine: sa.Engine) -> list[tuple[int, str, str | None]]:
    n = t.notifications.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(n.level, n.target_key, n.via).order_by(n.created_at, n.level))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_schedule_level_pages_whoever_is_on_call_at_the_step(api: Api) -> None:
    put_primary(api)
    api.admin.put("/api/v1/escalation-policies/ops", json=policy_paging("primary"))
    api.admin.put("/api/v1/services/db", json={"name": "Database", "escalation_policy": "ops"})
    opened = api.admin.post("/api/v1/alerts", json={"service": "db", "message": "disk full"}).json()
    (page,) = queued_to(api.container.engine)
    assert page[:2] == (1, f"user:{ANN}:work")
    assert page[2] is not None
    assert page[2].startswith(f"schedule primary: {ANN}")
    incident = api.admin.get(f"/api/v1/incidents/{opened['incident_id']}").json()
    (step,) = [e for e in incident["timeline"] if e["type"] == "LevelNotified"]
    assert step["data"]["on_call"] == [{"schedule": "primary", "users": [ANN]}]
    assert incident["unreached"] == 0


def test_a_schedule_with_nobody_on_call_is_recorded_flagged_and_the_next_level_paged_at_once(
    api: Api,
) -> None:
    nights = {
        "name": "Nights",
        "time_zone": "UTC",
        "layers": [
            {
                **LAYER,
                "restrictions": [{"days": ["mon"], "from": "22:00", "to": "06:00"}],
            }
        ],
    }
    put_primary(api, nights)
    api.admin.put("/api/v1/escalation-policies/ops", json=policy_paging("primary"))
    api.admin.put("/api/v1/services/db", json={"name": "Database", "escalation_policy": "ops"})
    opened = api.admin.post("/api/v1/alerts", json={"service": "db", "message": "disk full"}).json()
    assert [(level, key) for level, key, _ in queued_to(api.container.engine)] == [
        (2, "email:team@example.com")
    ]
    incident = api.admin.get(f"/api/v1/incidents/{opened['incident_id']}").json()
    assert (incident["level"], incident["unreached"]) == (2, 1)
    first, second = [e["data"] for e in incident["timeline"] if e["type"] == "LevelNotified"]
    assert first["on_call"] == [{"schedule": "primary", "users": []}]
    assert first["unreached"] == [{"target": "schedule primary", "reason": "nobody is on call"}]
    assert first["timer_due_at"] is None
    assert second["timer_due_at"] is not None


@pytest.mark.parametrize("at", ["1.6e-304", "0", "1741000000"])
def test_an_instant_is_iso_8601_text_never_a_number_of_seconds(api: Api, at: str) -> None:
    answer = api.admin.get("/api/v1/oncall", params={"at": at})
    assert answer.status_code == 422
    assert answer.json()["error"]["problems"][0]["field"] == "query.at"
    put_primary(api)
    made = api.admin.post(
        "/api/v1/schedules/primary/overrides",
        json={"user": ANN, "start": 0, "end": "2026-03-02T10:00:00Z"},
    )
    assert made.status_code == 422


def test_problems_say_what_would_page_nobody_in_the_next_14_days(api: Api) -> None:
    assert api.admin.get("/api/v1/oncall/problems").json() == {"problems": []}
    put_primary(api)  # always somebody: ann, bob, cat by the hour
    api.admin.put(
        "/api/v1/schedules/daytime",
        json={
            "name": "Daytime",
            "time_zone": "UTC",
            "layers": [
                {
                    "users": [ANN],
                    "shift": {"weeks": 1},
                    "start": "2026-03-02T00:00:00",
                    "restrictions": [
                        {
                            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                            "from": "09:00",
                            "to": "17:00",
                        }
                    ],
                }
            ],
        },
    )
    api.admin.put("/api/v1/escalation-policies/ops", json=policy_paging("primary"))
    assert api.admin.get("/api/v1/oncall/problems").json() == {"problems": []}
    with api.container.engine.begin() as conn:
        conn.execute(t.users.update().where(t.users.c.email == CAT).values(contact_methods=[]))
    daytime_only = {
        "name": "Days",
        "levels": [
            {"ack_timeout_seconds": 60, "targets": [{"type": "schedule", "schedule": "daytime"}]}
        ],
    }
    api.admin.put("/api/v1/escalation-policies/days", json=daytime_only)
    found = api.admin.get("/api/v1/oncall/problems", headers=api.as_user(BOB)).json()["problems"]
    base = "http://127.0.0.1:8080"
    assert [(p["kind"], p["start"], p["end"], p["count"], p["link"]) for p in found] == [
        # Now is 09:30 on Monday; cat's hour is 11:00 to 12:00, and every third after it.
        (
            "unreachable_user",
            "2026-03-02T11:00:00Z",
            "2026-03-02T12:00:00Z",
            1,
            f"{base}/profile/{CAT}",
        ),
        (
            "level_pages_nobody",
            "2026-03-02T11:00:00Z",
            "2026-03-02T12:00:00Z",
            112,
            f"{base}/policies/ops/edit",
        ),
        # Ann's daytime ends at 17:00: every night is a gap.
        (
            "schedule_gap",
            "2026-03-02T17:00:00Z",
            "2026-03-03T09:00:00Z",
            14,
            f"{base}/schedules/daytime",
        ),
        (
            "level_pages_nobody",
            "2026-03-02T17:00:00Z",
            "2026-03-03T09:00:00Z",
            14,
            f"{base}/policies/days/edit",
        ),
    ]
    assert found[0]["message"] == (
        f"{CAT} is on call on schedule primary but they have no enabled contact method"
    )


def test_a_policy_being_defined_holds_off_the_deletion_of_its_schedule(api: Api) -> None:
    """The step that reads a schedule for a policy (or a page) keeps it until it commits; the
    deletion then sees the policy and refuses (SQLite runs one writer at a time anyway)."""
    put_primary(api)
    engine = api.container.engine
    outcome: list[object] = []
    with engine.connect().execution_options(**WRITE) as conn, conn.begin():
        assert SqlDirectory(conn, START).schedule("primary") is not None
        deleting = threading.Thread(target=lambda: outcome.append(_delete(api)))
        if engine.dialect.name == "postgresql":
            deleting.start()
            deleting.join(0.5)
            assert deleting.is_alive()  # waits for the reader's commit
        levels = [
            {"ack_timeout_seconds": 60, "targets": [{"type": "schedule", "schedule": "primary"}]}
        ]
        conn.execute(
            t.policies.insert().values(
                id="ops", name="Ops", repeat=0, levels=levels, created_at=START, updated_at=START
            )
        )
    if not deleting.is_alive() and not outcome:
        deleting.start()
    deleting.join(10)
    assert outcome == ["schedule 'primary' is used by escalation policies: ops"]


def _delete(api: Api) -> str:
    try:
        api.container.schedules.delete("primary")
    except ScheduleInUse as refused:
        return refused.message
    return "deleted"
