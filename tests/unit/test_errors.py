"""Domain errors: a stable machine-readable code and a message that names the thing; and the
HTTP edge's answer to a validation error, however it is shaped."""

from __future__ import annotations

import pytest

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
from pager.entrypoints.http.errors import from_validation


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
