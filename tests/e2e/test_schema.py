"""Schemathesis over /openapi.json of a running `pagerd`: generated requests, valid and
invalid, to every operation must never get a 5xx, every answer must match the schema
(status code, content type, body), and the schema must say what the server takes: a request
it calls valid is not refused as invalid, one it calls invalid is refused. Bounded: a few
examples per operation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Pager, start_pager

EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pager]:
    """A Pager of its own (SQLite), since the fuzzer creates and deletes at random."""
    workdir = tmp_path_factory.mktemp("pager-schemathesis")
    pager_iter = start_pager(
        f"sqlite:///{workdir / 'pager.db'}",
        workdir,
        {"PAGER_RATE_LIMIT_PER_SECOND": "0"},
    )
    pager = next(pager_iter)
    # Something to find: a policy, services, an open incident.
    pager.policy("ops")
    _, key = pager.service("web", "ops")
    pager.admin.post("/api/v1/alerts", json={"service": "web", "message": "seeded"})
    pager.keys = {"web": key}
    yield pager
    pager_iter.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_its_schema(fuzzed: Pager, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(fuzzed.url + "/openapi.json")
    # No unknown query parameters (Pager, like most HTTP APIs, ignores them), and no made-up
    # credentials in place of the real ones each request is given below.
    schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
    key = fuzzed.keys["web"]
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:
        # Integration endpoints take the service's key; the rest an admin's token (as
        # PagerDuty's REST API takes it, on its subset).
        if operation.path.startswith("/v2/alerts"):
            headers = {"Authorization": f"GenieKey {key}"}
        elif operation.path.startswith("/pagerduty/"):
            headers = {"Authorization": f"Token token={fuzzed.admin_token}"}
        elif operation.path.startswith("/integrations/"):
            headers = {"Authorization": f"Bearer {key}"}
        else:
            headers = {"Authorization": f"Bearer {fuzzed.admin_token}"}

        run = fuzz(operation, mode, headers, key)
        try:
            run()
        except Unsatisfiable:  # nothing invalid to send to an operation without inputs
            continue
        except Exception as error:  # every operation's failure, not just the first
            failures[operation.label] = str(error)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def fuzz(
    operation: Any, mode: GenerationMode, headers: dict[str, str], key: str
) -> Callable[[], None]:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: keep the run bounded
    )
    def run(case: Case) -> None:
        body = case.body
        if operation.path.endswith("/enqueue") and isinstance(body, dict):
            routing_key = body.get("routing_key")
            if isinstance(routing_key, str) and routing_key.strip():  # left alone if invalid
                body["routing_key"] = key  # PagerDuty's answer to an unknown key is a 400
        checks = CHECKS
        # The rules a JSON schema cannot state: a level names each target once, and only
        # users and schedules that exist; a user's methods have distinct ids, and their rules
        # name those ids; a schedule's zone is a known one and its people are users; a range
        # of shifts ends after it starts; a maintenance window ends after it starts, later; a
        # snooze ends in the next 7 days, and a reassignment names a user or a schedule that
        # exists; an Alertmanager webhook's content is within the domain's bounds (the webhook
        # takes its labels and annotations as plain text: the domain checks and names them);
        # PagerDuty's update of an incident escalates to its next level only, assigns to a
        # user that exists, and answers a resolved incident's refusal as a 400, as PagerDuty
        # does.
        if (
            operation.path.endswith(("/snooze", "/reassign"))
            or (operation.path.startswith("/pagerduty/") and operation.method.upper() == "PUT")
            or operation.path == "/integrations/alertmanager"
            or _past_opsgenies_window(case)
            or _repeats_a_target(body)
            or _names_people(body)
            or _names_other_methods(body)
            or _schedule_rules(operation)
            or _maintenance_rules(operation)
        ):
            checks = [check for check in CHECKS if check is not positive_data_acceptance]
        case.call_and_validate(headers=headers, checks=checks)

    return run  # type: ignore[no-any-return]


def _repeats_a_target(body: object) -> bool:
    """Whether a policy's level lists a target twice as Pager tells them apart (`key`):
    `uniqueItems` refuses equal items, not two that differ in case or secret only."""
    if not isinstance(body, dict) or not isinstance(body.get("levels"), list):
        return False
    for level in body["levels"]:
        targets = level.get("targets") if isinstance(level, dict) else None
        if not isinstance(targets, list):
            continue
        keys = [_target_key(target) for target in targets if isinstance(target, dict)]
        if len(keys) != len(set(keys)):
            return True
    return False


def _names_people(body: object) -> bool:
    """Whether a policy's level names a user or a schedule (made up, so likely unknown)."""
    if not isinstance(body, dict) or not isinstance(body.get("levels"), list):
        return False
    return any(
        isinstance(target, dict) and target.get("type") in ("user", "schedule")
        for level in body["levels"]
        if isinstance(level, dict) and isinstance(level.get("targets"), list)
        for target in level["targets"]
    )


def _names_other_methods(body: object) -> bool:
    """Whether a user's profile repeats a method's id, or has a rule that names none."""
    if not isinstance(body, dict):
        return False
    methods, rules = body.get("contact_methods", []), body.get("notification_rules", [])
    if not isinstance(methods, list) or not isinstance(rules, list):
        return False
    ids = [repr(method.get("id")) for method in methods if isinstance(method, dict)]
    named = {repr(rule.get("contact_method")) for rule in rules if isinstance(rule, dict)}
    return len(ids) != len(set(ids)) or not named <= set(ids)


def _past_opsgenies_window(case: Any) -> bool:
    """Opsgenie's list of alerts reaches at most 20,000 deep: `offset + limit` (each within
    its own stated bound)."""
    query = getattr(case, "query", None) or {}
    try:
        return int(query.get("offset", 0)) + int(query.get("limit", 20)) > 20_000
    except (TypeError, ValueError):
        return False


def _schedule_rules(operation: Any) -> bool:
    path, method = operation.path, operation.method.upper()
    return (path.startswith("/api/v1/schedules/") and method in ("PUT", "POST")) or (
        path.endswith("/shifts")
    )


def _maintenance_rules(operation: Any) -> bool:
    """A window's end after its start and in the future: rules of time, not of shape."""
    return operation.path.endswith("/maintenance") and operation.method.upper() == "POST"


def _target_key(target: dict[str, Any]) -> str:
    value = next((target.get(f) for f in ("address", "phone", "url") if f in target), "")
    value = value.lower() if target.get("type") == "email" and isinstance(value, str) else value
    return f"{target.get('type')}:{value}"
