"""Schemathesis over /openapi.json of a running `pagerd`: generated requests, valid and
invalid, to every operation must never get a 5xx, and every answer must match the schema
(status code, content type, body). Bounded: a few examples per operation."""

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
]
# Not `negative_data_rejection`: it counts an unknown query parameter as invalid input, and
# Pager, like most HTTP APIs, ignores those.


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
    key = fuzzed.keys["web"]
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:
        # Integration endpoints take the service's key; the rest an admin's token.
        if operation.path.startswith("/v2/alerts"):
            headers = {"Authorization": f"GenieKey {key}"}
        elif operation.path.startswith("/integrations/"):
            headers = {"Authorization": f"Bearer {key}"}
        else:
            headers = {"Authorization": f"Bearer {fuzzed.admin_token}"}

        run = fuzz(operation, mode, headers)
        try:
            run()
        except Unsatisfiable:  # nothing invalid to send to an operation without inputs
            continue
        except Exception as error:  # every operation's failure, not just the first
            failures[operation.label] = str(error)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> Callable[[], None]:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: keep the run bounded
    )
    def run(case: Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run  # type: ignore[no-any-return]
