"""`pagerd apply` and `pagerd export` on real databases (SQLite and PostgreSQL): idempotent,
a dry run writes nothing, an invalid file is refused whole, nothing is deleted without
--prune, and an export applies as "no changes"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from pager.adapters.clock import SystemClock
from pager.adapters.storage import tables as t
from pager.adapters.storage.accounts import SqlAccountStore
from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.queries import SqlQueries
from pager.application.accounts import Accounts
from pager.application.config_as_code import policy_differences
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.domain.policy import (
    EmailTarget,
    EscalationPolicy,
    Level,
    ScheduleTarget,
    SmsTarget,
    WebhookTarget,
)
from pager.entrypoints.cli import app
from tests.support.db import row_counts

EXAMPLE = Path(__file__).parents[2] / "examples" / "pager.yaml"
EXAMPLE_ENV = {"PAGER_ALICE_PASSWORD": "correct horse battery"}
KEY_LINE = re.compile(
    r"  integration key of ([\w-]+) \(shown once, only its hash is kept\): ([0-9a-f]{32})"
)

SMALL = """\
escalation_policies:
  - id: ops
    name: Ops on call
    levels:
      - ack_timeout_seconds: 300
        targets:
          - {type: email, address: alice@example.com}
          - {type: sms, phone: "+14155550100"}
      - targets:
          - {type: email, address: bob@example.com}
services:
  - {id: api, name: Public API, escalation_policy: ops}
  - {id: db, name: Database, escalation_policy: ops}
users:
  - {email: alice@example.com, role: admin}
"""

Pagerd = Callable[..., Result]


@pytest.fixture
def pagerd(database_url: str, tmp_path: Path) -> Pagerd:
    """Runs `pagerd ARGS` in process on the test's database. `yaml=` is written to a file
    whose path replaces the argument "FILE"."""
    runner = CliRunner()

    def run(*args: str, yaml: str | None = None, env: dict[str, str] | None = None) -> Result:
        if yaml is not None:
            (tmp_path / "pager.yaml").write_text(yaml)
        argv = [str(tmp_path / "pager.yaml") if arg == "FILE" else arg for arg in args]
        return runner.invoke(app, argv, env={"PAGER_DATABASE_URL": database_url, **(env or {})})

    return run


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result.stdout


def refused(result: Result) -> str:
    assert result.exit_code == 1, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return result.stderr


def accounts(engine: Engine) -> Accounts:
    return Accounts(SqlAccountStore(engine), SystemClock())


def stream_types(engine: Engine, stream_id: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.scalars(
            sa.select(t.events.c.type)
            .where(t.events.c.stream_id == stream_id)
            .order_by(t.events.c.version)
        )
        return list(rows)


# -- the example, applied, applied again, exported


def test_the_example_applies_then_changes_nothing(pagerd: Pagerd, db: Engine) -> None:
    first = ok(pagerd("apply", "-f", str(EXAMPLE), env=EXAMPLE_ENV))
    keys = dict(KEY_LINE.findall(first))
    assert sorted(keys) == ["build-farm", "checkout", "payments-ledger", "status-page"]
    lines = [line for line in first.splitlines() if not KEY_LINE.fullmatch(line)]
    assert lines == [
        "+ create user alice@example.com (role admin, password, name 'Alice Example', "
        "time zone Europe/Paris, 2 contact methods, 2 notification rules)",
        "+ create user bob@example.com (role responder)",
        "+ create user payments-lead@example.com (role responder)",
        "+ create user carol@example.com (role responder)",
        "+ create user dave@example.com (role responder)",
        "+ create schedule payments-primary (1 layer, Europe/Berlin)",
        "+ create schedule payments-secondary (1 layer, Europe/Berlin)",
        "+ create escalation policy payments-oncall (3 levels, repeat 1)",
        "+ create escalation policy platform-business-hours (2 levels, repeat 0)",
        "+ create service checkout (escalation policy payments-oncall)",
        "+ create service payments-ledger (escalation policy payments-oncall)",
        "+ create service build-farm (escalation policy platform-business-hours)",
        "+ create service status-page (escalation policy platform-business-hours)",
        "applied: 13 created, 0 updated, 0 deleted",
    ]
    # Applied again with another password (or none): alice keeps the one she was given.
    again = {"PAGER_ALICE_PASSWORD": "another password"}
    assert ok(pagerd("apply", "-f", str(EXAMPLE), env=again)) == "no changes\n"
    assert ok(pagerd("apply", "-f", str(EXAMPLE))) == "no changes\n"

    queries = SqlQueries(db)
    policy = queries.policy("payments-oncall")
    assert policy is not None
    assert policy.used_by == ("checkout", "payments-ledger")
    assert policy.policy.repeat == 1
    assert [level.ack_timeout_seconds for level in policy.policy.levels] == [300, 600, 900]
    assert policy.policy.levels[0].targets == (
        ScheduleTarget("payments-primary"),
        EmailTarget("payments-oncall@example.com"),
        SmsTarget("+14155550100"),
    )
    assert policy.policy.levels[1].targets == (
        ScheduleTarget("payments-secondary"),
        SmsTarget("+14155550101"),
    )
    platform = queries.policy("platform-business-hours")
    assert platform is not None
    assert platform.policy.levels[1].targets == (EmailTarget("platform-lead@example.com"),)
    assert {(s.id, s.name, s.escalation_policy, s.state) for s in queries.services()} == {
        ("checkout", "Checkout API", "payments-oncall", "healthy"),
        ("payments-ledger", "Payments ledger", "payments-oncall", "healthy"),
        ("build-farm", "CI build farm", "platform-business-hours", "healthy"),
        ("status-page", "Public status page", "platform-business-hours", "healthy"),
    }
    people = accounts(db)
    assert [(u.email, u.role) for u in people.users()] == [
        ("alice@example.com", "admin"),
        ("bob@example.com", "responder"),
        ("carol@example.com", "responder"),
        ("dave@example.com", "responder"),
        ("payments-lead@example.com", "responder"),
    ]
    assert people.check_password("alice@example.com", EXAMPLE_ENV["PAGER_ALICE_PASSWORD"])
    assert people.profile("alice@example.com") == Person(
        "alice@example.com",
        "Alice Example",
        "Europe/Paris",
        (
            ContactMethod("phone", "sms", "+14155550100"),
            ContactMethod("work", "email", "alice@example.com"),
        ),
        (NotificationRule(0, "work"), NotificationRule(2, "phone")),
    )
    for service_id, key in keys.items():  # like services made over the API
        assert people.service_for_key(key) == service_id
    # Through the handlers: event-sourced like any other change.
    assert stream_types(db, "policy:payments-oncall") == ["PolicyCreated"]
    assert stream_types(db, "service:checkout") == ["ServiceCreated"]


def test_an_export_applies_as_no_changes(pagerd: Pagerd, tmp_path: Path) -> None:
    ok(pagerd("apply", "-f", str(EXAMPLE), env=EXAMPLE_ENV))
    exported = ok(pagerd("export"))
    assert "password" not in exported
    assert ok(pagerd("apply", "-f", "FILE", yaml=exported)) == "no changes\n"
    # With --prune too: the export lists everything there is.
    assert ok(pagerd("apply", "--prune", "-f", "FILE", yaml=exported)) == "no changes\n"

    written = tmp_path / "exported.yaml"
    result = pagerd("export", "-o", str(written))
    assert ok(result) == ""
    assert result.stderr == f"wrote {written}\n"
    assert written.read_text() == exported


def test_export_then_apply_to_a_new_database(pagerd: Pagerd, tmp_path: Path) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    exported = ok(pagerd("export"))
    runner = CliRunner()
    env = {"PAGER_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    copy = runner.invoke(app, ["apply", "-f", "-"], input=exported, env=env)
    assert copy.exit_code == 0, copy.output
    assert "applied: 4 created" in copy.stdout
    again = runner.invoke(app, ["export"], env=env)
    assert again.stdout == exported


# -- dry runs


def test_a_dry_run_shows_the_changes_and_writes_nothing(pagerd: Pagerd, db: Engine) -> None:
    before = row_counts(db)
    out = ok(pagerd("apply", "--dry-run", "-f", "FILE", yaml=SMALL))
    assert out.splitlines() == [
        "+ create user alice@example.com (role admin)",
        "+ create escalation policy ops (2 levels, repeat 0)",
        "+ create service api (escalation policy ops)",
        "+ create service db (escalation policy ops)",
        "dry run: 4 to create, 0 to update, 0 to delete; nothing was written",
    ]
    assert row_counts(db) == before


def test_a_dry_run_on_no_database_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    (tmp_path / "pager.yaml").write_text(SMALL)
    result = CliRunner().invoke(
        app,
        ["apply", "--dry-run", "-f", str(tmp_path / "pager.yaml")],
        env={"PAGER_DATABASE_URL": f"sqlite:///{path}"},
    )
    assert result.exit_code == 0, result.output
    assert "dry run: 4 to create" in result.stdout
    assert not path.exists()


def test_updates_are_shown_in_detail_and_applied(pagerd: Pagerd, db: Engine) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    changed = (
        SMALL.replace("name: Ops on call", "name: Operations")
        .replace("ack_timeout_seconds: 300", "ack_timeout_seconds: 120")
        .replace('{type: sms, phone: "+14155550100"}', '{type: sms, phone: "+14155550199"}')
        .replace("{id: db, name: Database,", "{id: db, name: Main database,")
        .replace("role: admin", "role: responder")
        + "  - {email: carol@example.com, role: admin}\n"
    )
    dry = ok(pagerd("apply", "--dry-run", "-f", "FILE", yaml=changed))
    assert dry.splitlines() == [
        "~ update user alice@example.com: role admin -> responder",
        "+ create user carol@example.com (role admin)",
        "~ update escalation policy ops: name 'Ops on call' -> 'Operations'; "
        "level 1 ack_timeout_seconds 300 -> 120; level 1 + sms +14155550199; "
        "level 1 - sms +14155550100",
        "~ update service db: name 'Database' -> 'Main database'",
        "dry run: 1 to create, 3 to update, 0 to delete; nothing was written",
    ]
    applied = ok(pagerd("apply", "-f", "FILE", yaml=changed))
    assert applied.splitlines()[:-1] == dry.splitlines()[:-1]
    assert applied.splitlines()[-1] == "applied: 1 created, 3 updated, 0 deleted"
    assert ok(pagerd("apply", "-f", "FILE", yaml=changed)) == "no changes\n"

    policy = SqlQueries(db).policy("ops")
    assert policy is not None
    assert policy.policy.name == "Operations"
    assert policy.policy.levels[0].ack_timeout_seconds == 120
    assert stream_types(db, "policy:ops") == ["PolicyCreated", "PolicyChanged"]
    assert stream_types(db, "service:db") == ["ServiceCreated", "ServiceUpdated"]
    assert accounts(db).user("alice@example.com").role == "responder"


def test_moving_a_service_to_a_new_policy(pagerd: Pagerd, db: Engine) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    moved = SMALL.replace(
        "services:",
        "  - id: dba\n    name: DBAs\n    levels:\n"
        "      - targets: [{type: email, address: dba@example.com}]\nservices:",
    ).replace(
        "{id: db, name: Database, escalation_policy: ops}",
        "{id: db, name: Database, escalation_policy: dba}",
    )
    out = ok(pagerd("apply", "-f", "FILE", yaml=moved))
    assert out.splitlines()[:2] == [
        "+ create escalation policy dba (1 level, repeat 0)",
        "~ update service db: escalation policy ops -> dba",
    ]
    service = SqlQueries(db).service("db")
    assert service is not None
    assert service.escalation_policy == "dba"


def test_webhook_secrets_count_as_changes(pagerd: Pagerd) -> None:
    hook = dedent(
        """\
        escalation_policies:
          - id: bots
            name: Bots
            levels:
              - targets:
                  - {type: webhook, url: "https://bots.example.com/hook", secret_env: HOOK_SECRET}
        """
    )
    ok(pagerd("apply", "-f", "FILE", yaml=hook, env={"HOOK_SECRET": "one"}))
    assert ok(pagerd("apply", "-f", "FILE", env={"HOOK_SECRET": "one"})) == "no changes\n"
    out = ok(pagerd("apply", "-f", "FILE", env={"HOOK_SECRET": "two"}))
    assert out.splitlines()[0] == (
        "~ update escalation policy bots: level 1 webhook bots.example.com secret changed"
    )
    assert "two" not in out


# -- nothing is deleted without --prune


def test_things_not_in_the_file_are_kept_unless_pruned(pagerd: Pagerd, db: Engine) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    smaller = SMALL.replace("  - {id: db, name: Database, escalation_policy: ops}\n", "").replace(
        "{email: alice@example.com, role: admin}", "{email: carol@example.com, role: admin}"
    )
    kept = ok(pagerd("apply", "-f", "FILE", yaml=smaller))
    assert kept.splitlines() == [
        "+ create user carol@example.com (role admin)",
        "not in the file, kept (--prune would delete them): service db, user alice@example.com",
        "applied: 1 created, 0 updated, 0 deleted",
    ]
    dry = ok(pagerd("apply", "--prune", "--dry-run", "-f", "FILE"))
    assert dry.splitlines() == [
        "- delete service db",
        "- delete user alice@example.com",
        "dry run: 0 to create, 0 to update, 2 to delete; nothing was written",
    ]
    ok(pagerd("apply", "--prune", "-f", "FILE"))
    assert [s.id for s in SqlQueries(db).services()] == ["api"]
    assert [user.email for user in accounts(db).users()] == ["carol@example.com"]
    assert stream_types(db, "service:db") == ["ServiceCreated", "ServiceDeleted"]


def test_prune_leaves_the_sections_the_file_does_not_have(pagerd: Pagerd, db: Engine) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    only_users = "users:\n  - {email: bob@example.com, role: admin}\n"
    out = ok(pagerd("apply", "--prune", "-f", "FILE", yaml=only_users))
    assert out.splitlines() == [
        "+ create user bob@example.com (role admin)",
        "- delete user alice@example.com",
        "applied: 1 created, 0 updated, 1 deleted",
    ]
    assert len(SqlQueries(db).services()) == 2
    assert len(SqlQueries(db).policies()) == 1


def test_pruning_a_service_deletes_policies_after_their_services(
    pagerd: Pagerd, db: Engine
) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    other = dedent(
        """\
        escalation_policies:
          - id: web
            name: Web
            levels: [{targets: [{type: email, address: web@example.com}]}]
        services:
          - {id: www, name: Website, escalation_policy: web}
        """
    )
    out = ok(pagerd("apply", "--prune", "-f", "FILE", yaml=other))
    assert KEY_LINE.search(out) is not None  # www is new: its key, once
    assert [line for line in out.splitlines() if not KEY_LINE.fullmatch(line)] == [
        "+ create escalation policy web (1 level, repeat 0)",
        "+ create service www (escalation policy web)",
        "- delete service api",
        "- delete service db",
        "- delete escalation policy ops",
        "applied: 2 created, 0 updated, 3 deleted",
    ]
    assert [p.policy.id for p in SqlQueries(db).policies()] == ["web"]
    assert len(accounts(db).users()) == 1  # no users section: users untouched


def test_prune_refuses_to_pull_a_policy_from_under_a_service(pagerd: Pagerd, db: Engine) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    before = row_counts(db)
    policies_only = dedent(
        """\
        escalation_policies:
          - id: web
            name: Web
            levels: [{targets: [{type: email, address: web@example.com}]}]
        """
    )
    err = refused(pagerd("apply", "--prune", "-f", "FILE", yaml=policies_only))
    assert err.splitlines()[0].endswith("pager.yaml is invalid; nothing was applied:")
    assert err.splitlines()[1:] == [
        "  escalation policy ops: --prune would delete it, but service api uses it and is "
        "not in the file",
        "  escalation policy ops: --prune would delete it, but service db uses it and is "
        "not in the file",
    ]
    assert row_counts(db) == before


def test_the_last_admin_stays(pagerd: Pagerd, db: Engine) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    for users in (
        "users:\n  - {email: alice@example.com, role: responder}\n",
        "users:\n  - {email: bob@example.com, role: responder}\n",
    ):
        args = ("apply", "--prune", "-f", "FILE") if "bob" in users else ("apply", "-f", "FILE")
        err = refused(pagerd(*args, yaml=users))
        assert err.splitlines()[1:] == [
            "  users: no admin would be left: keep at least one user with role admin"
        ]
    assert accounts(db).user("alice@example.com").role == "admin"
    # Without --prune, alice stays an admin and bob may be added.
    ok(pagerd("apply", "-f", "FILE", yaml="users:\n  - {email: bob@example.com}\n"))


def test_pruning_a_service_revokes_its_integration_key(pagerd: Pagerd, db: Engine) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    people = accounts(db)
    issued = people.rotate_integration_key("db")
    ok(pagerd("apply", "--prune", "-f", "FILE", yaml=SMALL.replace("  - {id: db,", "  #")))
    assert people.service_for_key(issued.key) is None


# -- refused whole


def test_an_invalid_file_is_refused_whole_naming_each_place(pagerd: Pagerd, db: Engine) -> None:
    before = row_counts(db)
    invalid = dedent(
        """\
        escalation_policies:
          - id: ops
            name: Ops
            levels:
              - targets:
                  - {type: email, address: alice@example.com}
              - ack_timeout_seconds: 0
                targets:
                  - {type: email, address: not-an-address}
                  - {type: sms, phone: +14155550100}
                  - {type: pigeon, to: HQ}
                  - {type: webhook}
          - id: Bad_Id
            name: ""
            levels: []
          - id: ops
            name: Again
            levels: [{targets: [{type: slack, url: "ftp://x"}]}]
        services:
          - {id: api, name: API, escalation_policy: nowhere}
          - {id: web, name: Web, escalation_policy: ops, owner: me}
          - {id: web, name: Web again, escalation_policy: ops}
        users:
          - {email: alice@example.com, role: root}
          - {email: bob@example.com, password: hunter22}
        """
    )
    err = refused(pagerd("apply", "-f", "FILE", yaml=invalid))
    assert err.splitlines()[1:] == [
        "  escalation policy ops level 2 target 2 phone: write the number in quotes, such as "
        '"+14155550100": YAML reads an unquoted +14155550100 as a number',
        "  escalation policy ops level 2 target 3: type must be one of email, sms, voice, "
        "webhook, slack, teams, mattermost",
        "  escalation policy Bad_Id name: must not be empty",
        "  service web owner: is not a known field",
        "  user alice@example.com role: input should be 'admin' or 'responder'",
        "  user bob@example.com password: a password may not be written in the file; put it "
        "in an environment variable and name that variable with password_env",
    ]
    assert err.splitlines()[0].endswith("pager.yaml is invalid; nothing was applied:")
    assert row_counts(db) == before


def test_domain_rules_are_checked_before_anything_is_written(pagerd: Pagerd, db: Engine) -> None:
    before = row_counts(db)
    invalid = dedent(
        """\
        escalation_policies:
          - id: ops
            name: Ops
            levels:
              - targets:
                  - {type: email, address: alice@example.com}
              - ack_timeout_seconds: 0
                targets:
                  - {type: email, address: not-an-address}
                  - {type: webhook}
          - id: Bad_Id
            name: " "
            levels: []
          - id: ops
            name: Again
            repeat: -1
            levels:
              - targets:
                  - {type: slack, url: "ftp://x"}
                  - {type: email, address: a@b.c}
                  - {type: email, address: A@b.c}
        services:
          - {id: api, name: API, escalation_policy: nowhere}
          - {id: web, name: Web, escalation_policy: ops}
          - {id: web, name: " ", escalation_policy: ops}
        users:
          - {email: alice@example.com, role: admin, password_env: SHORT}
          - {email: Alice@Example.com}
          - {email: nobody}
        """
    )
    err = refused(pagerd("apply", "-f", "FILE", yaml=invalid, env={"SHORT": "abc"}))
    lines = err.splitlines()
    assert lines[0].endswith("pager.yaml is invalid; nothing was applied:")
    assert lines[1:] == [
        "  escalation policy ops level 2 target 2 url: is required (or url_env)",
        "  user alice@example.com password_env (SHORT): string should have at least 8 characters",
    ]
    fixed = invalid.replace("{type: webhook}", '{type: webhook, url: "https://h.example.com"}')
    err = refused(pagerd("apply", "-f", "FILE", yaml=fixed, env={"SHORT": "long enough"}))
    assert err.splitlines()[0].endswith("pager.yaml is invalid; nothing was applied:")
    assert err.splitlines()[1:] == [
        "  escalation policy ops level 2 ack_timeout_seconds: must be at least 1",
        "  escalation policy ops level 2 target 1: 'not-an-address' is not an email address",
        "  escalation policy Bad_Id id: 'Bad_Id' must match [a-z0-9][a-z0-9-]{0,62}",
        "  escalation policy Bad_Id name: must not be empty",
        "  escalation policy Bad_Id levels: a policy needs at least one level",
        "  escalation policy ops repeat: must be 0 or more",
        "  escalation policy ops level 1 target 1: 'ftp://x' is not an http(s) URL",
        "  escalation policy ops level 1 target 3: the same target is listed twice",
        "  escalation policy ops: is listed more than once",
        "  service api escalation_policy: 'nowhere' is neither in the file nor in the database",
        "  service web name: must not be empty",
        "  service web: is listed more than once",
        "  user nobody email: 'nobody' is not an email address",
        "  user alice@example.com: is listed more than once",
    ]
    assert row_counts(db) == before


def test_private_targets_are_refused_by_place_unless_allowed(pagerd: Pagerd, db: Engine) -> None:
    before = row_counts(db)
    private = dedent(
        """\
        escalation_policies:
          - id: ops
            name: Ops
            levels:
              - targets:
                  - {type: email, address: alice@example.com}
                  - {type: webhook, url: "http://169.254.169.254/latest/meta-data/"}
              - targets:
                  - {type: slack, url: "https://localhost:8443/services/T/B/X"}
                  - {type: webhook, url: "https://hooks.example.com/pager"}
        """
    )
    off = {"PAGER_ALLOW_PRIVATE_TARGETS": "false"}
    err = refused(pagerd("apply", "-f", "FILE", yaml=private, env=off))
    hint = "set PAGER_ALLOW_PRIVATE_TARGETS=true on the server to allow it"
    assert err.splitlines()[0].endswith("pager.yaml is invalid; nothing was applied:")
    assert err.splitlines()[1:] == [
        "  escalation policy ops level 1 target 2: 169.254.169.254 is a cloud metadata "
        f"address; {hint}",
        f"  escalation policy ops level 2 target 1: localhost is this machine (a loopback "
        f"address); {hint}",
    ]
    assert row_counts(db) == before
    ok(pagerd("apply", "-f", "FILE", env={"PAGER_ALLOW_PRIVATE_TARGETS": "true"}))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "  file: is empty"),
        (
            "- just\n- a list\n",
            "  file: must be a mapping with escalation_policies, services, users, schedules",
        ),
        ("version: 1\n", "  file: has none of escalation_policies, services, users, schedules"),
        ("version: 2\nusers: []\n", "  version: input should be 1"),
        ("version: true\nusers: []\n", "  version: input should be 1"),
        (
            "escalation_policies:\n  - {id: x, name: X, repeat: true, levels: [{\n"
            "    targets: [{type: email, address: a@b.c}]}]}\n",
            "  escalation policy x repeat: input should be a valid integer",
        ),
        (
            "escalation_policies:\n  - {id: x, name: X, levels: [{\n"
            "    ack_timeout_seconds: true, targets: [{type: email, address: a@b.c}]}]}\n",
            "  escalation policy x level 1 ack_timeout_seconds: input should be a valid integer",
        ),
        ("colours: []\n", "  colours: is not a known field"),
        ("services: {api: x}\n", "  services: input should be a valid list"),
        (
            "users:\n  - email: a@b.c\n    email: d@e.f\n",
            "  line 3 column 5: not valid YAML: the key 'email' is given twice",
        ),
        (
            "users: [\n",
            "  line 2 column 1: not valid YAML: "
            "expected the node content, but found '<stream end>'",
        ),
        (
            "escalation_policies:\n"
            "  - {id: x, name: X, levels: [{ack_timeout_seconds: 1.5, targets: []}]}\n",
            "  escalation policy x level 1 ack_timeout_seconds: input should be a valid integer",
        ),
        ("services:\n  - {name: No id, escalation_policy: p}\n", "  service #1 id: is required"),
        (
            "escalation_policies:\n  - {id: p, name: P, repeat: 1000, levels: [{\n"
            "    ack_timeout_seconds: 604800, targets: [{type: email, address: a@b.c}]}]}\n",
            "  escalation policy p repeat: input should be less than or equal to 100",
        ),
        (
            "escalation_policies:\n  - {id: p, name: P, levels: [{\n"
            "    ack_timeout_seconds: 604801, targets: [{type: email, address: a@b.c}]}]}\n",
            "  escalation policy p level 1 ack_timeout_seconds: "
            "input should be less than or equal to 604800",
        ),
        (
            "escalation_policies:\n  - {id: p, name: P, levels: [{targets: [\n"
            f"    {{type: webhook, url: 'https://h.example.com/{'x' * 600}'}}]}}]}}\n",
            "  escalation policy p level 1 target 1 url: string should have at most 512 characters",
        ),
        (
            "escalation_policies:\n  - {id: p, name: P, levels: [{targets: [\n"
            '    {type: email, address: "a\\0@example.com"}]}]}\n',
            "  escalation policy p level 1 target 1 address: must not contain NUL characters",
        ),
        (
            "escalation_policies:\n  - {id: p, name: P, levels: [{targets: [\n"
            "    {type: slack, url: 'https://h.example.com', url_env: X}]}]}\n",
            "  escalation policy p level 1 target 1 url: give url or url_env, not both",
        ),
        (
            "users:\n  - {email: a@example.com, password_env: PAGER_TEST_UNSET_PASSWORD}\n",
            "  user a@example.com password_env: the environment variable "
            "PAGER_TEST_UNSET_PASSWORD is not set",
        ),
    ],
)
def test_file_problems(pagerd: Pagerd, text: str, problem: str) -> None:
    err = refused(pagerd("apply", "-f", "FILE", yaml=text))
    assert err.splitlines()[1:] == [problem]


def test_an_unreadable_file_is_one_line(pagerd: Pagerd, tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert refused(pagerd("apply", "-f", str(missing))) == (
        f"pagerd: cannot read {missing}: No such file or directory\n"
    )
    (tmp_path / "latin1.yaml").write_bytes("users: [{email: j\xf6@example.com}]".encode("latin-1"))
    assert refused(pagerd("apply", "-f", str(tmp_path / "latin1.yaml"))) == (
        f"pagerd: cannot read {tmp_path / 'latin1.yaml'}: it is not UTF-8 text\n"
    )


# -- passwords


def test_passwords_come_from_the_environment_and_stay_put(pagerd: Pagerd, db: Engine) -> None:
    users = "users:\n  - {email: alice@example.com, role: admin, password_env: ALICE_PW}\n"
    ok(pagerd("apply", "-f", "FILE", yaml=users, env={"ALICE_PW": "first password"}))
    assert ok(pagerd("apply", "-f", "FILE", env={"ALICE_PW": "first password"})) == "no changes\n"
    out = ok(pagerd("apply", "-f", "FILE", env={"ALICE_PW": "second password"}))
    assert out.splitlines()[0] == "~ update user alice@example.com: password"
    assert "second" not in out
    people = accounts(db)
    assert people.check_password("alice@example.com", "second password")
    assert not people.check_password("alice@example.com", "first password")
    # Without password_env the password the user has stays.
    no_password = "users:\n  - {email: alice@example.com, role: admin}\n"
    assert ok(pagerd("apply", "-f", "FILE", yaml=no_password)) == "no changes\n"
    assert people.check_password("alice@example.com", "second password")


# -- as a process: exit codes, one line, no traceback


def run_pagerd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}
    return subprocess.run(
        [sys.executable, "-m", "pager", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_apply_as_a_process(tmp_path: Path) -> None:
    env = {"PAGER_DATABASE_URL": f"sqlite:///{tmp_path / 'pager.db'}", **EXAMPLE_ENV}
    first = run_pagerd("apply", "-f", str(EXAMPLE), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.endswith("applied: 13 created, 0 updated, 0 deleted\n")
    again = run_pagerd("apply", "-f", str(EXAMPLE), env=env)
    assert (again.returncode, again.stdout) == (0, "no changes\n")

    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("services: [{id: x}]\n")
    bad = run_pagerd("apply", "-f", str(invalid), env=env)
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        f"pagerd: {invalid} is invalid; nothing was applied:",
        "  service x name: is required",
        "  service x escalation_policy: is required",
    ]

    unreachable = {**env, "PAGER_DATABASE_URL": "postgresql://pager@127.0.0.1:1/pager"}
    for args in (
        ["apply", "-f", str(EXAMPLE)],
        ["apply", "--dry-run", "-f", str(EXAMPLE)],
        ["export"],
    ):
        down = run_pagerd(*args, env=unreachable)
        assert down.returncode == 1
        assert down.stderr.startswith("pagerd: cannot open the database: ")
        assert len(down.stderr.splitlines()) == 1


def test_export_needs_a_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    result = run_pagerd("export", env={"PAGER_DATABASE_URL": url})
    assert (result.returncode, result.stderr) == (
        1,
        f"pagerd: there is no Pager database at {url} yet\n",
    )
    assert not (tmp_path / "none.db").exists()


def test_help_says_what_prune_does() -> None:
    result = CliRunner().invoke(app, ["apply", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Without --prune nothing is ever deleted" in result.stdout
    assert "--dry-run" in result.stdout


def test_policy_differences_name_each_change() -> None:
    alice, bob = EmailTarget("alice@example.com"), EmailTarget("bob@example.com")
    hook = WebhookTarget("https://hooks.example.com/x", "one")
    before = EscalationPolicy(
        "ops", "Ops", (Level((alice, hook), 300), Level((bob,), 600), Level((bob,), 60)), 0
    )
    after = EscalationPolicy(
        "ops",
        "Ops",
        (
            Level((EmailTarget("Alice@example.com"), WebhookTarget(hook.url, "two")), 300),
            Level((bob, SmsTarget("+14155550100")), 600),
        ),
        2,
    )
    assert policy_differences(before, after) == (
        "repeat 0 -> 2",
        "level 1 email alice@example.com -> email Alice@example.com",
        "level 1 webhook hooks.example.com secret changed",
        "level 2 + sms +14155550100",
        "level 3 removed",
    )
    reordered = EscalationPolicy("ops", "Ops", (Level((hook, alice), 300),))
    assert policy_differences(
        EscalationPolicy("ops", "Ops", (Level((alice, hook), 300),)), reordered
    ) == ("level 1 targets reordered",)
    assert policy_differences(reordered, after)[-1] == "level 2 added"


# -- integration keys and first passwords


def test_a_service_key_is_shown_by_its_hint_and_rotated_on_demand(
    pagerd: Pagerd, db: Engine
) -> None:
    first = ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    keys = dict(KEY_LINE.findall(first))
    shown = ok(pagerd("service", "key", "api"))
    assert shown.startswith(f"api: integration key …{keys['api'][-4:]}, made ")
    rotated = ok(pagerd("service", "key", "api", "--rotate")).strip()
    assert re.fullmatch("[0-9a-f]{32}", rotated)
    people = accounts(db)
    assert people.service_for_key(rotated) == "api"
    assert people.service_for_key(keys["api"]) is None  # the old key stopped working
    assert people.service_for_key(keys["db"]) == "db"
    missing = pagerd("service", "key", "nope")
    assert missing.exit_code == 1
    assert "service 'nope' does not exist" in missing.stderr


def test_a_service_without_a_key_says_how_to_make_one(pagerd: Pagerd, db: Engine) -> None:
    ok(pagerd("apply", "-f", "FILE", yaml=SMALL))
    accounts(db).forget_integration_key("db")
    assert "db has no integration key yet" in ok(pagerd("service", "key", "db"))


def test_an_initial_password_is_set_only_when_the_user_is_made(pagerd: Pagerd, db: Engine) -> None:
    config = (
        SMALL.replace(
            "- {email: alice@example.com, role: admin}",
            "- {email: alice@example.com, role: admin, initial_password_env: FIRST}",
        )
        + "  - {email: bob@example.com, initial_password_env: FIRST_BOB}\n"
    )
    first = ok(pagerd("apply", "-f", "FILE", yaml=config, env={"FIRST": "first password"}))
    assert "+ create user alice@example.com (role admin, password)" in first
    assert "+ create user bob@example.com (role responder)" in first  # FIRST_BOB unset
    again = ok(pagerd("apply", "-f", "FILE", yaml=config, env={"FIRST": "second password"}))
    assert again == "no changes\n"
    people = accounts(db)
    assert people.check_password("alice@example.com", "first password") is not None
    assert people.check_password("alice@example.com", "second password") is None
    both = config.replace(
        "initial_password_env: FIRST}", "initial_password_env: A, password_env: B}"
    )
    err = refused(pagerd("apply", "-f", "FILE", yaml=both, env={"A": "x" * 9, "B": "y" * 9}))
    assert "user alice@example.com password_env: give password_env or initial_password_env" in err
