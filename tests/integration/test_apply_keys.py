"""A service's `integration_key` in the file (what an importer's --keep-keys writes): stored
hashed, answered to by the service, unchanged when applied again, replaced when the file
gives another, and refused when two services would share one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.entrypoints.cli import app

KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
OTHER = "0c6e21a2-59bd-4d5f-9a8e-2f0c1e7b9d44"


def config(key: str, second: str | None = None) -> str:
    text = f"""\
escalation_policies:
  - id: ops
    name: Ops
    levels:
      - targets: [{{type: email, address: ops@example.com}}]
services:
  - id: db
    name: Database
    escalation_policy: ops
    integration_key: {key}
"""
    if second is not None:
        text += f"""\
  - id: web
    name: Web
    escalation_policy: ops
    integration_key: {second}
"""
    return text


@pytest.fixture
def pagerd(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Result]:
    path = tmp_path_factory.mktemp("keys") / "pager.yaml"

    def run(text: str, *args: str) -> Result:
        path.write_text(text)
        env = {"PAGER_DATABASE_URL": database_url}
        return CliRunner().invoke(app, ["apply", "-f", str(path), *args], env=env)

    return run


def service_for(database_url: str, key: str) -> str | None:
    pager = bootstrap(Settings(database_url=database_url))
    try:
        return pager.accounts.service_for_key(key)
    finally:
        pager.engine.dispose()


def test_a_key_from_the_file_is_the_services_key(
    pagerd: Callable[..., Result], database_url: str
) -> None:
    dry = pagerd(config(KEY), "--dry-run")
    assert "+ create service db (escalation policy ops, integration key from the file)" in (
        dry.stdout.splitlines()
    )
    result = pagerd(config(KEY))
    assert result.exit_code == 0, result.output
    assert KEY not in result.output  # never shown: the file has it, the database its hash
    assert service_for(database_url, KEY) == "db"
    assert pagerd(config(KEY)).stdout.splitlines() == ["no changes"]
    changed = pagerd(config(OTHER))
    assert "~ update service db: integration key from the file" in changed.stdout.splitlines()
    assert service_for(database_url, OTHER) == "db"
    assert service_for(database_url, KEY) is None


def test_two_services_may_not_share_a_key(pagerd: Callable[..., Result]) -> None:
    result = pagerd(config(KEY, KEY))
    assert result.exit_code == 1
    assert "  services: two services have the same integration_key" in result.stderr.splitlines()


def test_a_short_key_is_refused(pagerd: Callable[..., Result]) -> None:
    result = pagerd(config("short"))
    assert result.exit_code == 1
    assert "service db integration_key" in result.stderr
