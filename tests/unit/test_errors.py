"""Domain errors: a stable machine-readable code and a message that names the thing; and the
HTTP edge's answers: a validation error however it is shaped, and Opsgenie's `took`."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.requests import Request

from pager.domain.errors import (
    Conflict,
    DomainError,
    IncidentAlreadyResolved,
    IncidentNotFound,
    NotFound,
    PolicyInUse,
    PolicyNotFound,
    ServiceNotFound,
    ValidationFailed,
)
from pager.entrypoints.http.errors import (
    INTERNAL,
    UNAVAILABLE,
    ApiError,
    from_exception,
    from_validation,
    render,
)


@pytest.mark.parametrize(
    ("error", "kind", "code", "message"),
    [
        (ServiceNotFound("checkout"), NotFound, "not_found", "service 'checkout' does not exist"),
        (PolicyNotFound("ops"), NotFound, "not_found", "escalation policy 'ops' does not exist"),
        (IncidentNotFound("inc-1"), NotFound, "not_found", "incident 'inc-1' does not exist"),
        (
            IncidentAlreadyResolved("inc-1"),
            Conflict,
            "conflict",
            "incident 'inc-1' is already resolved",
        ),
        (
            PolicyInUse("ops", ("checkout", "search")),
            Conflict,
            "conflict",
            "escalation policy 'ops' is used by: checkout, search",
        ),
        (
            ValidationFailed((("id", "bad"), ("level 2 target 1", "not an email"))),
            DomainError,
            "invalid",
            "id: bad; level 2 target 1: not an email",
        ),
    ],
)
def test_each_error_has_a_stable_code_and_a_message_for_people(
    error: DomainError, kind: type[DomainError], code: str, message: str
) -> None:
    assert isinstance(error, kind)
    assert error.code == code
    assert error.message == str(error) == message


def test_not_found_errors_keep_the_id_they_name() -> None:
    assert ServiceNotFound("checkout").service_id == "checkout"
    assert PolicyNotFound("ops").policy_id == "ops"
    assert IncidentNotFound("inc-1").incident_id == "inc-1"


# --- the HTTP answers -------------------------------------------------------------------------


def test_a_validation_error_names_each_field_without_the_body_prefix() -> None:
    refused = from_validation(
        [
            {"type": "missing", "loc": ("body", "service"), "msg": "Field required"},
            {"type": "string_too_long", "loc": ("body", "labels", "env"), "msg": "too long"},
        ]
    )
    assert (refused.status, refused.code) == (422, "invalid")
    assert refused.message == "service: Field required; labels.env: too long"
    assert refused.problems == (("service", "Field required"), ("labels.env", "too long"))


def test_a_validation_error_with_no_place_or_message_still_names_the_body() -> None:
    # Not what pydantic sends, but a 422 all the same rather than a 500.
    refused = from_validation([{"type": "value_error"}])
    assert (refused.status, refused.message, refused.problems) == (
        422,
        "body: invalid",
        (("body", "invalid"),),
    )


def rendered(path: str, **state: Any) -> dict[str, Any]:
    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "state": state}
    answer = render(Request(scope), ApiError(404, "not_found", "Alert does not exist"))
    body: dict[str, Any] = json.loads(answer.body)
    return body


def test_an_opsgenie_error_says_how_long_the_request_took() -> None:
    body = rendered("/v2/alerts/x/close", started=time.monotonic() - 2.5)
    assert 2.5 <= body["took"] < 60
    assert body["message"] == "Alert does not exist"
    assert body["error"] == {"code": "not_found", "message": "Alert does not exist"}
    # A request whose start was not noted took no time, rather than failing its answer.
    assert rendered("/v2/alerts/x/close")["took"] == 0.0
    assert "took" not in rendered("/api/v1/incidents/x", started=time.monotonic())


def test_a_refusal_renamed_names_the_fields_as_the_body_does_and_keeps_the_rest() -> None:
    refused = ValidationFailed((("labels.source", "too long"), ("message", "is empty")))
    renamed = refused.renamed({"labels.source": "source", "tags": "tag"})
    assert renamed.problems == (("source", "too long"), ("message", "is empty"))
    assert str(renamed) == "source: too long; message: is empty"
    assert refused.problems[0] == ("labels.source", "too long")  # the original is unchanged


def test_an_outage_is_a_503_in_one_line_and_any_other_failure_a_500_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    locked = sa.exc.OperationalError("DELETE FROM timers", {}, sqlite3.OperationalError("locked"))
    with caplog.at_level(logging.ERROR):
        assert from_exception("POST", "/api/v1/alerts", locked) is UNAVAILABLE
    [line] = caplog.records
    assert line.getMessage() == (
        "POST /api/v1/alerts: database unavailable: OperationalError: locked"
    )
    assert line.exc_info is None
    caplog.clear()
    bug = ValueError("a bug")
    with caplog.at_level(logging.ERROR):
        assert from_exception("GET", "/api/v1/incidents", bug) is INTERNAL
    [line] = caplog.records
    assert line.getMessage() == "error in GET /api/v1/incidents"
    assert line.exc_info is not None
    assert line.exc_info[1] is bug
